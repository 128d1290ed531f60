"""Pix2Pix (Isola et al. 2017; ``game='pix2pix'``): paired translation x (domain a) -> y (b).

Players: a U-Net G (dropout its only noise) and a PatchGAN D on (input, output) pairs
(``models.translation``), each with Adam(2e-4, β1 = 0.5) in the configs. One train step, as
``pix2pix_model.optimize_parameters`` of junyanz/pytorch-CycleGAN-and-pix2pix:

  ŷ = G(x)   (one forward pass; its vjp serves G's update),
  D:  L_D = ½ [ E softplus(-D(x, y)) + E softplus(D(x, ŷ)) ]   (BCE on logits, ŷ held fixed),
  G:  L_G = E softplus(-D'(x, ŷ)) + λ_L1 · E |ŷ - y|            (D' the updated D, λ_L1 = 100),

the means taken over every patch of D's output map and every pixel. D is called on the real
and on the fake pairs separately (with BatchNorm each call normalises its own batch, as there).
The dropout masks of example i are drawn from ``fold_in(fold_in(train_key, step), i)`` (i its
global index), so k devices draw what one device draws.

Inference (pictures, evaluation, ``gan_jax.sample``) runs G with BatchNorm's running statistics
and without dropout (``models.translation``).
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.errors import ConfigError
from gan_jax.games import translation, updates

OBJECTIVE = "non_saturating"


@flax.struct.dataclass
class Pix2PixState:
  step: jax.Array  # Train steps done (int32 scalar).
  g_params: Any
  d_params: Any
  g_opt_state: Any
  d_opt_state: Any
  g_batch_stats: Any  # G's BatchNorm running statistics ({} without BatchNorm).
  d_batch_stats: Any  # D's (never used at inference; kept as torch keeps them).
  skipped_updates: jax.Array


class Pix2PixGame(translation.TranslationGame):
  name = "pix2pix"
  checked_metrics = ("d_loss", "g_loss", "g_gan", "l1")
  nonfinite_metrics = ("d_nonfinite", "g_nonfinite")
  progress_metrics = (("d_loss", "d_loss", ".4f"), ("g_gan", "g_gan", ".4f"),
                      ("l1", "l1", ".4f"), ("D(x,y)", "d_real", ".3f"),
                      ("D(x,G(x))", "d_fake", ".3f"))
  default_generator = "unet"
  default_norm = "batch"
  directions = ("a2b",)

  def __init__(self, config, dataset, *, num_devices: int):
    super().__init__(config, dataset, num_devices=num_devices)
    if config.translation.reframe:
      raise ConfigError("translation.reframe=True is supported by game='cyclegan' only; set "
                        "translation.reframe=False")
    if not dataset.paired:
      raise ConfigError(f"game='pix2pix' needs paired data; data.name={dataset.name!r} is "
                        "unpaired (use game='cyclegan')")
    self.generator = self.make_generator(dataset.shape_b)
    self.discriminator = self.make_discriminator()
    self.g_optimizer = self.optimizer(config.optim.g_lr)
    self.d_optimizer = self.optimizer(config.optim.d_lr)
    self.objective = losses.get(OBJECTIVE)

  def init_state(self, key) -> Pix2PixState:
    g_key, d_key = jax.random.split(key)
    x = jnp.zeros((2, *self.dataset.shape_a), jnp.float32)
    y = jnp.zeros((2, *self.dataset.shape_b), jnp.float32)
    g_vars = self.generator.init(g_key, x, train=False)
    d_vars = self.discriminator.init(d_key, y, x, train=False)
    return Pix2PixState(
        step=jnp.zeros((), jnp.int32), g_params=g_vars["params"], d_params=d_vars["params"],
        g_opt_state=self.g_optimizer.init(g_vars["params"]),
        d_opt_state=self.d_optimizer.init(d_vars["params"]),
        g_batch_stats=g_vars.get("batch_stats", {}), d_batch_stats=d_vars.get("batch_stats", {}),
        skipped_updates=jnp.zeros((), jnp.int32))

  def train_step(self, state: Pix2PixState, batch: dict, train_key):
    c = self.config
    x, y = batch["a"], batch["b"]
    key = jax.random.fold_in(train_key, state.step)
    keys = translation.example_keys(key, x.shape[0], self.num_devices)
    G, D, obj = self.generator, self.discriminator, self.objective  # noqa: N806

    def generate(g_params):
      return translation.apply(G, g_params, state.g_batch_stats, x, train=True,
                               example_keys=keys)

    fake, g_pull, g_stats = jax.vjp(generate, state.g_params, has_aux=True)

    def d_loss_fn(d_params):
      real_out, stats = translation.apply(D, d_params, state.d_batch_stats, y, x, train=True)
      fake_out, stats = translation.apply(D, d_params, stats, jax.lax.stop_gradient(fake), x,
                                          train=True)
      loss = 0.5 * obj.d_loss(real_out.reshape(-1), fake_out.reshape(-1))
      return loss, (stats, real_out, fake_out)

    (d_loss, (d_stats, real_out, fake_out)), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(state.d_params)
    d_params, d_opt, d_grads = updates.apply_gradients(state.d_params, state.d_opt_state,
                                                       d_grads, self.d_optimizer)
    metrics = {"d_loss": d_loss, "d_real": obj.d_prob_or_score(real_out.reshape(-1)),
               "d_fake": obj.d_prob_or_score(fake_out.reshape(-1))}
    new = state.replace(d_params=d_params, d_opt_state=d_opt, d_batch_stats=d_stats)
    new, metrics = updates.guard(state, new, updates.finite(d_loss, optax.tree.norm(d_grads)),
                                 metrics, "d", c.train.skip_nonfinite)

    def g_loss_fn(fake):
      out, _ = translation.apply(D, new.d_params, new.d_batch_stats, fake, x, train=True)
      gan = obj.g_loss(out.reshape(-1))
      l1 = losses.l1_reconstruction(fake, y)
      return gan + c.translation.lambda_l1 * l1, (gan, l1)

    (g_loss, (g_gan, l1)), d_fake = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
    (g_grads,) = g_pull(d_fake)
    g_params, g_opt, g_grads = updates.apply_gradients(state.g_params, state.g_opt_state,
                                                       g_grads, self.g_optimizer)
    metrics.update(g_loss=g_loss, g_gan=g_gan, l1=l1)
    after_g = new.replace(g_params=g_params, g_opt_state=g_opt, g_batch_stats=g_stats)
    new, metrics = updates.guard(new, after_g,
                                 updates.finite(g_loss, optax.tree.norm(g_grads)), metrics, "g",
                                 c.train.skip_nonfinite)
    return translation.finish_step(state, new, metrics, self.nonfinite_metrics)

  def generator_for(self, direction: str):
    return self.generator, lambda state: {
        "params": state.g_params,
        **({"batch_stats": state.g_batch_stats} if state.g_batch_stats else {})}

  def picture_columns(self, state):
    n = 2 * translation.PICTURE_ROWS
    x, y = self.dataset.test_a[:n], self.dataset.test_b[:n]
    return [x, self.translate(state, x), y]
