"""The VAE game (``game='vae'``): a Gaussian encoder q(z|x) and the GAN's G as the decoder p(x|z),
both minimising the negative ELBO ``vae_losses.negative_elbo`` (likelihood and β in ``c.vae``).

Players: the encoder 'e' (D's trunk with a (μ, log σ²) head, ``models.vae``) and the decoder 'g'
(DCGAN G: the same network and widths as the GAN's generator), each with its own Adam at
``optim.g_lr``. Samples decode z ~ N(0, I) (the prior) with the generator's sampling variables
(EMA and BatchNorm statistics as for the GAN); reconstructions decode the encoder's mean μ(x) with
the live decoder. ``d_loss`` is reported as 0 (no discriminator) and ``g_loss`` is -ELBO.
"""

from __future__ import annotations

import functools
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import models, rng, vae_losses
from gan_jax.data import sampler
from gan_jax.errors import ConfigError
from gan_jax.evaluation import sampling
from gan_jax.games import gan_state as state_lib
from gan_jax.games import updates
from gan_jax.games.base import Game
from gan_jax.models import vae as vae_models

# Test images whose reconstruction error ``evaluate`` reports (at most; capped at --num).
RECON_EVAL_NUM = 2000


@flax.struct.dataclass
class VAEState:
  """The encoder's and decoder's (and, for VAE-GAN, the discriminator's) variables. The
  decoder's fields carry the GAN state's names (g_*, ema_g_*), so the GAN's sampling code reads
  them; ``d_*`` are empty for the VAE."""

  step: jax.Array
  e_params: Any
  e_opt_state: Any
  g_params: Any
  g_opt_state: Any
  g_batch_stats: Any
  ema_g_params: Any
  ema_g_batch_stats: Any
  d_params: Any
  d_opt_state: Any
  skipped_updates: jax.Array


def vae_config_checks(config, game: str) -> None:
  """ConfigError (one line) for the ``c.vae`` fields and models the VAE games cannot use."""
  vae_models.check_model(config.model.name, game)
  v = config.vae
  if v.likelihood not in vae_losses.LIKELIHOODS:
    raise ConfigError(f"vae.likelihood={v.likelihood!r} is unknown; "
                      f"valid: {', '.join(vae_losses.LIKELIHOODS)}")
  for field in ("beta", "gaussian_std"):
    if not v[field] > 0:
      raise ConfigError(f"vae.{field}={v[field]!r} must be a positive number")
  if config.conditional:
    raise ConfigError(f"conditional=True is not supported by game={game!r}; set "
                      "conditional=False")


class VAEGame(Game):
  name = "vae"
  checked_metrics = ("g_loss", "recon", "kl")
  nonfinite_metrics = ("e_nonfinite", "g_nonfinite")
  progress_metrics = (("-elbo", "g_loss", ".2f"), ("recon", "recon", ".2f"), ("kl", "kl", ".2f"))

  def __init__(self, config, dataset, *, num_devices: int):
    super().__init__(config, dataset, num_devices=num_devices)
    vae_config_checks(config, self.name)
    self.num_classes = 0
    self.z_dim = config.model.z_dim
    self.generator, self.discriminator = models.get(
        config.model, example_shape=dataset.example_shape, num_classes=0,
        axis_name=updates.AXIS)
    self.encoder = vae_models.encoder_for(self.discriminator, self.z_dim)
    _, self.decoder = vae_models.decoder_pair(self.generator)
    o = config.optim
    self.optimizers = state_lib.Optimizers(
        g=updates.adam(o.g_lr, o.b1, o.b2, schedule=o.schedule,
                       num_updates=config.train.num_steps),
        d=updates.adam(o.d_lr, o.b1, o.b2, schedule=o.schedule,
                       num_updates=config.train.num_steps))

  # ---- device side ---------------------------------------------------------------------------

  def _init_d(self, key, x):
    return {}

  def init_state(self, key) -> VAEState:
    e_key, g_key, d_key = jax.random.split(key, 3)
    x = jnp.zeros((2,) + tuple(self.dataset.example_shape), jnp.float32)
    e_params = self.encoder.init(e_key, x, train=False)["params"]
    g_vars = self.generator.init(g_key, jnp.zeros((2, self.z_dim)), None, train=False)
    d_params = self._init_d(d_key, x)
    g_params, g_stats = g_vars["params"], g_vars.get("batch_stats", {})
    return VAEState(
        step=jnp.zeros((), jnp.int32),
        e_params=e_params, e_opt_state=self.optimizers.g.init(e_params),
        g_params=g_params, g_opt_state=self.optimizers.g.init(g_params),
        g_batch_stats=g_stats, ema_g_params=jax.tree.map(jnp.copy, g_params),
        ema_g_batch_stats=jax.tree.map(jnp.copy, g_stats),
        d_params=d_params, d_opt_state=self.optimizers.d.init(d_params) if d_params else {},
        skipped_updates=jnp.zeros((), jnp.int32))

  def _latents(self, key, local_batch: int):
    """ε for the reparameterisation, drawn for the global batch; this device's slice."""
    n = local_batch * self.num_devices
    return updates.local_slice(jax.random.normal(key, (n, self.z_dim)), self.num_devices)

  def encode(self, e_params, x, eps):
    """(z = μ + σ·ε, μ, log σ²) of q(z|x)."""
    mean, logvar = self.encoder.apply({"params": e_params}, x, train=True)
    return vae_losses.reparameterize(mean, logvar, eps), mean, logvar

  def decode(self, g_params, g_batch_stats, z):
    """(the decoder's pre-activation a in train mode, its new BatchNorm statistics)."""
    a, new = self.decoder.apply({"params": g_params, "batch_stats": g_batch_stats}, z, None,
                                train=True, mutable=["batch_stats"])
    return a, new["batch_stats"]

  def _update(self, state, player: str, grads, metrics, loss):
    """Player ``player``'s ('e' or 'd') optimiser step, guarded against non-finite updates."""
    params, opt_state = getattr(state, f"{player}_params"), getattr(state, f"{player}_opt_state")
    optimizer = self.optimizers.d if player == "d" else self.optimizers.g
    params, opt_state, grads = updates.apply_gradients(params, opt_state, grads, optimizer)
    norm = optax.tree.norm(grads)
    metrics[f"{player}_grad_norm"] = norm
    new = state.replace(**{f"{player}_params": params, f"{player}_opt_state": opt_state})
    return updates.guard(state, new, updates.finite(loss, norm), metrics, player,
                         self.config.train.skip_nonfinite)

  def _decoder_fields(self, state, g_params, g_batch_stats):
    """The new decoder's BatchNorm statistics and EMAs (``updates.ema`` at ``ema_decay_at``)."""
    decay = updates.ema_decay_at(state.step, self.config.ema_decay,
                                 self.config.get("ema_start_step", 0),
                                 self.config.get("ema_warmup", "tf"))
    return dict(g_batch_stats=g_batch_stats,
                ema_g_params=updates.ema(state.ema_g_params, g_params, decay),
                ema_g_batch_stats=updates.ema(state.ema_g_batch_stats, g_batch_stats, decay))

  def train_step(self, state, batch, train_key):
    """One step on -ELBO: ∇ of E[-log p(x|z)] + β·KL for the encoder and decoder together (one
    backward pass), then each player's Adam step; ε from fold_in(train_key, step)."""
    v = self.config.vae
    x = batch["x"][:, 0]
    eps = self._latents(jax.random.fold_in(train_key, state.step), x.shape[0])

    def loss_fn(e_params, g_params):
      z, mean, logvar = self.encode(e_params, x, eps)
      a, g_stats = self.decode(g_params, state.g_batch_stats, z)
      terms = vae_losses.negative_elbo(a, x, mean, logvar, likelihood=v.likelihood,
                                       beta=v.beta, gaussian_std=v.gaussian_std)
      return terms["loss"], (terms, g_stats)

    (loss, (terms, g_stats)), (e_grads, g_grads) = jax.value_and_grad(
        loss_fn, argnums=(0, 1), has_aux=True)(state.e_params, state.g_params)
    metrics = jax.lax.pmean(dict(g_loss=loss, recon=terms["recon"], kl=terms["kl"],
                                 d_loss=jnp.zeros(())), updates.AXIS)
    new, metrics = self._update(state, "e", e_grads, metrics, loss)
    new, metrics = self._update_decoder(new, state, g_grads, metrics, loss, g_stats)
    metrics["skipped_updates"] = new.skipped_updates
    return new.replace(step=state.step + 1), metrics

  def _update_decoder(self, state, old, grads, metrics, loss, g_stats):
    """The decoder's step; its EMAs follow the new params (kept at ``old``'s on a skip)."""
    params, opt_state, grads = updates.apply_gradients(state.g_params, state.g_opt_state, grads,
                                                       self.optimizers.g)
    norm = optax.tree.norm(grads)
    metrics["g_grad_norm"] = norm
    new = state.replace(g_params=params, g_opt_state=opt_state,
                        **self._decoder_fields(old, params, g_stats))
    return updates.guard(state, new, updates.finite(loss, norm), metrics, "g",
                         self.config.train.skip_nonfinite)

  # ---- host side -----------------------------------------------------------------------------

  def batch_fn(self, *, process_index: int = 0, process_count: int = 1):
    c = self.config
    return sampler.make_batch_fn(
        self.dataset, batch_size=c.train.batch_size, n_critic=1, seed=rng.streams(c.seed).data,
        process_index=process_index, process_count=process_count,
        random_flip=c.data.get("random_flip", False))

  def reconstruct(self, state, images, *, batch_size: int = 500) -> np.ndarray:
    """Dec(μ(x)) for each image (N, H, W, C) in [-1, 1]: the encoder's mean, decoded by the
    live decoder in inference mode (running BatchNorm statistics)."""
    fn = _reconstruct_fn(self.encoder, self.generator)
    g_vars = sampling.generator_variables(state, use_ema=False)
    images = np.asarray(images, np.float32)
    # generate() batches row by row with padding; it passes our images as its "z".
    return sampling.generate(lambda variables, x, _: fn(variables, x), (state.e_params, g_vars),
                             images, None, batch_size=batch_size)

  def picture(self, state, seed: int) -> tuple[np.ndarray, dict]:
    """Four rows of prior samples, then two rows of test images over their reconstructions."""
    c = self.config
    z, _ = sampling.fixed_latents(seed, 32, c.model.z_dim, 0)
    fake = sampling.generate(sampling.make_generate_fn(self.generator),
                             sampling.sampling_variables(self, state), z, None)
    real = self._held_out()[:16]
    recon = self.reconstruct(state, real)
    rows = np.concatenate([fake, real[:8], recon[:8], real[8:], recon[8:]])
    return sampling.image_grid(rows, 8), {}

  def evaluate(self, state, *, num: int, seed: int = 0, **kwargs) -> dict:
    """The GAN's metrics of prior samples (``evaluator.evaluate``) and ``recon_mse``: the mean
    squared error per pixel (images in [-1, 1]) of Dec(μ(x)) on min(num, RECON_EVAL_NUM) test
    images."""
    from gan_jax.evaluation import evaluator

    out = evaluator.evaluate(self, state, num=num, seed=seed, **kwargs)
    out["recon_mse"] = self.reconstruction_error(state, num=min(num, RECON_EVAL_NUM))
    return out

  def _held_out(self) -> np.ndarray:
    """The test images (the training images for a dataset without a test split)."""
    return self.dataset.test_x if len(self.dataset.test_x) else self.dataset.train_x

  def reconstruction_error(self, state, *, num: int) -> float:
    x = self._held_out()[:num]
    return float(np.mean(np.square(self.reconstruct(state, x) - x)))

  def samples(self, state, *, num: int, seed: int, **kwargs) -> dict:
    """Decoded z ~ N(0, I): the prior's samples."""
    return sampling.draw_samples(self, state, num, seed)

  def count_params(self) -> dict:
    shapes = jax.eval_shape(self.init_state, jax.random.key(0))
    return {"e_params": models.count_params(shapes.e_params),
            "g_params": models.count_params(shapes.g_params),
            "d_params": models.count_params(shapes.d_params)}


@functools.cache
def _reconstruct_fn(encoder, generator):
  """jit-compiled Dec(μ(x)) in inference mode, one per (encoder, generator) (Flax modules are
  hashable), so each batch shape compiles once per process."""

  def fn(variables, x):
    e_params, g_vars = variables
    mean, _ = encoder.apply({"params": e_params}, x, train=False)
    return generator.apply(g_vars, mean, None, train=False)

  return jax.jit(fn)
