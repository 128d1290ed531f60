"""CycleGAN (Zhu et al. 2017; ``game='cyclegan'``): unpaired translation between domains a and b.

Players: G = {G_ab: a -> b, G_ba: b -> a} (ResNet-block generators with instance norm) and
D = {D_b, D_a} (PatchGANs judging domain b and domain a images), one Adam each over both
networks (junyanz/pytorch-CycleGAN-and-pix2pix chains their parameters), Adam(2e-4, β1 = 0.5)
with lr held for the first half of training and decayed linearly to 0 over the second
(``optim.schedule='constant_then_linear'``). One train step, as ``cycle_gan_model.
optimize_parameters`` there: G first (D fixed), then D on fakes from the history buffers:

  b̂ = G_ab(a), â = G_ba(b),  reconstructions G_ba(b̂), G_ab(â),  identities G_ab(b), G_ba(a),
  L_G = E (D_b(b̂) - 1)² + E (D_a(â) - 1)²                          (LSGAN, the paper's L_GAN)
        + λ_cyc [E |G_ba(b̂) - a| + E |G_ab(â) - b|]                (cycle, λ_cyc = 10)
        + λ_id λ_cyc [E |G_ab(b) - b| + E |G_ba(a) - a|]          (identity, λ_id = 0.5)
  L_D = ½ [E (D_b(b) - 1)² + E D_b(pool_b(b̂))²] + ½ [E (D_a(a) - 1)² + E D_a(pool_a(â))²],

the means over every patch and pixel (with ``translation.identity_skips_warp`` the identity terms
run each G without its spatial transformer's warp); ``losses.get('lsgan')`` gives each D term
(its d_loss is that ½[...]), and its g_loss E (f - 1)²/2 is doubled to the paper's E (f - 1)².
pool_a and pool_b are the 50-image history buffers (``games.image_pool``), part of the state;
the step draws their choices from ``fold_in(fold_in(train_key, step), 1 or 2)``.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import losses
from gan_jax.errors import ConfigError
from gan_jax.games import image_pool, translation, updates
from gan_jax.models import translation as nets

OBJECTIVE = "lsgan"
# losses.get('lsgan').g_loss is E (f - 1)²/2; the paper's (and torch's MSELoss) L_GAN of G has
# no ½.
G_GAN_SCALE = 2.0
POOL_A_STREAM, POOL_B_STREAM = 1, 2


def domain_frame(images, chunk: int = 4096) -> tuple[float, float, float]:
  """The mean over a domain's images of ``models.translation.ink_frame``: how the domain frames
  its ink (long side, centre y, centre x, in pixels), the target of ``translation.reframe``."""
  frames = [np.asarray(nets.ink_frame(jnp.asarray(images[i:i + chunk], jnp.float32)), np.float64)
            for i in range(0, len(images), chunk)]
  return tuple(float(v) for v in np.concatenate(frames).mean(axis=0))


@flax.struct.dataclass
class CycleGANState:
  step: jax.Array  # Train steps done (int32 scalar).
  g_params: Any  # {'a2b': G_ab's params, 'b2a': G_ba's}
  d_params: Any  # {'a': D_a's params (judges domain a), 'b': D_b's}
  g_opt_state: Any
  d_opt_state: Any
  pool_a: image_pool.ImagePool  # fakes â = G_ba(b) that D_a saw
  pool_b: image_pool.ImagePool  # fakes b̂ = G_ab(a) that D_b saw
  skipped_updates: jax.Array


class CycleGANGame(translation.TranslationGame):
  name = "cyclegan"
  checked_metrics = ("d_loss", "g_loss", "g_gan", "cycle", "identity")
  nonfinite_metrics = ("d_nonfinite", "g_nonfinite")
  progress_metrics = (("d_loss", "d_loss", ".4f"), ("g_gan", "g_gan", ".4f"),
                      ("cycle", "cycle", ".4f"), ("identity", "identity", ".4f"),
                      ("D(b)", "d_real", ".3f"), ("D(G(a))", "d_fake", ".3f"))
  default_generator = "resnet"
  default_norm = "instance"
  directions = ("a2b", "b2a")

  def __init__(self, config, dataset, *, num_devices: int):
    super().__init__(config, dataset, num_devices=num_devices)
    if self.norm == "batch":
      raise ConfigError("translation.norm='batch' is not supported by game='cyclegan'; "
                        "valid: instance, none")
    if config.translation.identity_skips_warp and not config.translation.spatial_transformer:
      raise ConfigError("translation.identity_skips_warp=True needs "
                        "translation.spatial_transformer=True (G has no warp to skip)")
    if tuple(dataset.shape_a) != tuple(dataset.shape_b):
      raise ConfigError(f"game='cyclegan' needs domains of one shape; data.name="
                        f"{dataset.name!r} has {dataset.shape_a} and {dataset.shape_b}")
    frames = {"a2b": None, "b2a": None}
    if config.translation.reframe:
      frames = {"a2b": domain_frame(dataset.train_b), "b2a": domain_frame(dataset.train_a)}
    self.generators = {d: self.make_generator(dataset.shape_b, frames[d]) for d in self.directions}
    self.discriminator = self.make_discriminator()
    self.g_optimizer = self.optimizer(config.optim.g_lr)
    self.d_optimizer = self.optimizer(config.optim.d_lr)
    self.objective = losses.get(OBJECTIVE)

  def init_state(self, key) -> CycleGANState:
    keys = jax.random.split(key, 4)
    x = jnp.zeros((2, *self.dataset.shape_a), jnp.float32)
    init_g = lambda d, k: self.generators[d].init(k, x, train=False)["params"]  # noqa: E731
    init_d = lambda k: self.discriminator.init(k, x, train=False)["params"]  # noqa: E731
    g_params = {"a2b": init_g("a2b", keys[0]), "b2a": init_g("b2a", keys[1])}
    d_params = {"a": init_d(keys[2]), "b": init_d(keys[3])}
    pool = lambda: image_pool.create(self.config.translation.pool_size,  # noqa: E731
                                     self.dataset.shape_a)
    return CycleGANState(
        step=jnp.zeros((), jnp.int32), g_params=g_params, d_params=d_params,
        g_opt_state=self.g_optimizer.init(g_params), d_opt_state=self.d_optimizer.init(d_params),
        pool_a=pool(), pool_b=pool(), skipped_updates=jnp.zeros((), jnp.int32))

  def _g(self, g_params, direction: str, x, warp: bool = True):
    return self.generators[direction].apply({"params": g_params[direction]}, x, train=True,
                                            warp=warp)

  def _d(self, params, x):
    return self.discriminator.apply({"params": params}, x, train=True).reshape(x.shape[0], -1)

  def train_step(self, state: CycleGANState, batch: dict, train_key):
    c, t = self.config, self.config.translation
    a, b = batch["a"], batch["b"]
    key = jax.random.fold_in(train_key, state.step)
    obj = self.objective
    use_identity = t.lambda_identity > 0
    identity_warp = not t.identity_skips_warp

    def g_loss_fn(g_params):
      fake_b, fake_a = self._g(g_params, "a2b", a), self._g(g_params, "b2a", b)
      rec_a, rec_b = self._g(g_params, "b2a", fake_b), self._g(g_params, "a2b", fake_a)
      gan = G_GAN_SCALE * (obj.g_loss(self._d(state.d_params["b"], fake_b).reshape(-1))
                           + obj.g_loss(self._d(state.d_params["a"], fake_a).reshape(-1)))
      cycle = losses.cycle_consistency(a, rec_a) + losses.cycle_consistency(b, rec_b)
      identity = jnp.zeros(())
      if use_identity:
        identity = (losses.identity_loss(b, self._g(g_params, "a2b", b, identity_warp))
                    + losses.identity_loss(a, self._g(g_params, "b2a", a, identity_warp)))
      loss = gan + t.lambda_cycle * cycle + t.lambda_identity * t.lambda_cycle * identity
      return loss, (gan, cycle, identity, fake_a, fake_b)

    (g_loss, (gan, cycle, identity, fake_a, fake_b)), g_grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(state.g_params)
    g_params, g_opt, g_grads = updates.apply_gradients(state.g_params, state.g_opt_state,
                                                       g_grads, self.g_optimizer)
    metrics = {"g_loss": g_loss, "g_gan": gan, "cycle": cycle, "identity": identity}
    new = state.replace(g_params=g_params, g_opt_state=g_opt)
    new, metrics = updates.guard(state, new, updates.finite(g_loss, optax.tree.norm(g_grads)),
                                 metrics, "g", c.train.skip_nonfinite)

    fake_a, fake_b = jax.lax.stop_gradient(fake_a), jax.lax.stop_gradient(fake_b)
    pool_a, seen_a = image_pool.query_global(state.pool_a, fake_a,
                                             jax.random.fold_in(key, POOL_A_STREAM),
                                             self.num_devices)
    pool_b, seen_b = image_pool.query_global(state.pool_b, fake_b,
                                             jax.random.fold_in(key, POOL_B_STREAM),
                                             self.num_devices)

    def d_loss_fn(d_params):
      n = a.shape[0]
      # Instance norm treats examples alone: one call on [real; fake] is two calls' outputs.
      out_b = self._d(d_params["b"], jnp.concatenate([b, seen_b]))
      out_a = self._d(d_params["a"], jnp.concatenate([a, seen_a]))
      loss = (obj.d_loss(out_b[:n].reshape(-1), out_b[n:].reshape(-1))
              + obj.d_loss(out_a[:n].reshape(-1), out_a[n:].reshape(-1)))
      return loss, (out_b[:n], out_b[n:])

    (d_loss, (real_b, seen_fake_b)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
        new.d_params)
    d_params, d_opt, d_grads = updates.apply_gradients(new.d_params, new.d_opt_state, d_grads,
                                                       self.d_optimizer)
    metrics.update(d_loss=d_loss, d_real=obj.d_prob_or_score(real_b.reshape(-1)),
                   d_fake=obj.d_prob_or_score(seen_fake_b.reshape(-1)))
    after_d = new.replace(d_params=d_params, d_opt_state=d_opt, pool_a=pool_a, pool_b=pool_b)
    new, metrics = updates.guard(new, after_d, updates.finite(d_loss, optax.tree.norm(d_grads)),
                                 metrics, "d", c.train.skip_nonfinite)
    return translation.finish_step(state, new, metrics, self.nonfinite_metrics)

  def generator_for(self, direction: str):
    return self.generators[direction], lambda state: {"params": state.g_params[direction]}

  def picture_columns(self, state):
    n = translation.PICTURE_ROWS
    a, b = self.dataset.test_a[:n], self.dataset.test_b[:n]
    a2b, b2a = self.translate(state, a, "a2b"), self.translate(state, b, "b2a")
    return [a, a2b, self.translate(state, a2b, "b2a"), b, b2a, self.translate(state, b2a, "a2b")]
