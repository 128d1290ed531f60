"""Per-device train steps: ``d_update``, ``g_update`` and ``train_step`` (n_critic D, 1 G update).

The functions are pure and written for one device inside a data-parallel map over the named axis
``updates.AXIS`` (see ``training.parallel``): gradients and metrics are averaged with ``lax.pmean``,
and G's BatchNorm averages its statistics over the same axis. Random draws are made for the *global*
batch from keys shared by every device, and each device takes its slice, so a step on k devices
equals the same global batch on one device.

They are module-level pure functions whose dependencies (G, D, optimisers, ``StepConfig``) are
keyword-only; ``bind`` fixes them once with ``functools.partial``.

Randomness: step ``s`` uses ``fold_in(train_key, s)``; its j-th critic update folds in ``j`` and
the G update folds in ``n_critic``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax import losses
from gan_jax.games import updates
from gan_jax.games.gan_state import GANState, Optimizers
from gan_jax.games.updates import AXIS, ema_decay_at  # noqa: F401 - the GAN game's names
from gan_jax.ops import augment

# fold_in stream of the DiffAugment keys, apart from the steps' other draws.
_DIFFAUG_STREAM = 0x0D1FF


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """The static settings a step needs (hashable, closed over by the jitted step)."""

  objective: str
  num_devices: int
  z_dim: int
  num_classes: int = 0
  n_critic: int = 1
  scan_critic: bool = False
  gp_weight: float = 10.0
  r1_weight: float = 0.0
  label_smoothing: float = 0.0
  ac_weight: float = 1.0
  weight_clip: float = 0.0
  instance_noise_std: float = 0.0
  instance_noise_anneal_steps: int = 0
  ema_decay: float = 0.0
  ema_start_step: int = 0
  ema_warmup: str = "tf"
  skip_nonfinite: bool = False
  g_reuses_d_latents: bool = False
  diffaug: str = ""

  @classmethod
  def from_config(cls, config, *, num_devices: int, num_classes: int) -> StepConfig:
    return cls(
        objective=config.objective, num_devices=num_devices, z_dim=config.model.z_dim,
        num_classes=num_classes if config.conditional else 0, n_critic=config.train.n_critic,
        scan_critic=config.train.get("scan_critic", False), gp_weight=config.gp_weight,
        r1_weight=config.reg.r1_weight,
        label_smoothing=config.reg.label_smoothing, ac_weight=config.reg.get("ac_weight", 1.0),
        weight_clip=config.reg.weight_clip,
        instance_noise_std=config.reg.instance_noise_std,
        instance_noise_anneal_steps=config.reg.instance_noise_anneal_steps,
        ema_decay=config.ema_decay, ema_start_step=config.get("ema_start_step", 0),
        ema_warmup=config.get("ema_warmup", "tf"),
        skip_nonfinite=config.train.skip_nonfinite,
        g_reuses_d_latents=config.train.get("g_reuses_d_latents", False),
        diffaug=config.reg.get("diffaug", ""))


def instance_noise_std(step, std: float, anneal_steps: int):
  """σ(step) = std · max(0, 1 - step / anneal_steps); constant std when anneal_steps = 0."""
  if anneal_steps <= 0:
    return jnp.asarray(std, jnp.float32)
  return std * jnp.maximum(0.0, anneal_steps - step.astype(jnp.float32)) / anneal_steps


_local_slice = updates.local_slice
_finite = updates.finite


def _logits_and_classes(out):
  """D's output as (logits (N,), class logits (N, K) or None): AC-GAN's D returns a pair."""
  return out if isinstance(out, tuple) else (out, None)


def _has_batch_norm(batch_stats) -> bool:
  """Whether D's variables hold BatchNorm statistics (Flax's 'mean' and 'var'; spectral norm's
  power-iteration vectors live in the same collection)."""
  return any(getattr(k, "key", None) == "mean"
             for path, _ in jax.tree_util.tree_leaves_with_path(batch_stats) for k in path)


class SharedForward(NamedTuple):
  """One forward pass of G, x = G(z, c), that the last D update and the G update share
  (``train.g_reuses_d_latents``). A D update needs only ``fake`` and ``labels``."""

  fake: jax.Array
  labels: jax.Array | None
  pullback: Callable | None = None  # θ-cotangent of ∂x/∂θ: the vjp of G at its params
  g_batch_stats: Any = None  # G's BatchNorm statistics after that forward pass


def sample_latents(key, local_batch: int, cfg: StepConfig):
  """z ~ N(0, I) and, for conditional models, c ~ U{0..K-1}, for this device's examples."""
  n = local_batch * cfg.num_devices
  z_key, y_key = jax.random.split(key)
  z = _local_slice(jax.random.normal(z_key, (n, cfg.z_dim)), cfg.num_devices)
  labels = None
  if cfg.num_classes:
    labels = _local_slice(jax.random.randint(y_key, (n,), 0, cfg.num_classes), cfg.num_devices)
  return z, labels


def _instance_noise(key, x, step, cfg: StepConfig):
  if cfg.instance_noise_std <= 0:
    return x
  std = instance_noise_std(step, cfg.instance_noise_std, cfg.instance_noise_anneal_steps)
  noise = jax.random.normal(key, (x.shape[0] * cfg.num_devices,) + x.shape[1:], x.dtype)
  return x + std * _local_slice(noise, cfg.num_devices)


def _diff_augment(key, cfg: StepConfig, *xs):
  """DiffAugment T (reg.diffaug) of each batch in ``xs``: batch i's per-image keys are drawn
  for the global batch from fold_in(fold_in(key, stream), i), and each device takes its slice."""
  if not cfg.diffaug:
    return list(xs)
  key = jax.random.fold_in(key, _DIFFAUG_STREAM)
  return [augment.diff_augment(x, _local_slice(jax.random.split(
      jax.random.fold_in(key, i), x.shape[0] * cfg.num_devices), cfg.num_devices), cfg.diffaug)
          for i, x in enumerate(xs)]


def _generate(generator, state: GANState, params, z, labels):
  """G(z, c) in train mode; returns samples and G's updated BatchNorm statistics."""
  variables = {"params": params}
  if state.g_batch_stats:
    variables["batch_stats"] = state.g_batch_stats
    fake, updates = generator.apply(variables, z, labels, train=True, mutable=["batch_stats"])
    return fake, updates["batch_stats"]
  return generator.apply(variables, z, labels, train=True), state.g_batch_stats


def _discriminate(discriminator, params, batch_stats, x, labels, *, update_stats: bool):
  variables = {"params": params}
  if batch_stats:
    variables["batch_stats"] = batch_stats
    if update_stats:
      out, updates = discriminator.apply(
          variables, x, labels, train=True, mutable=["batch_stats"])
      return out, updates["batch_stats"]
  return discriminator.apply(variables, x, labels, train=False), batch_stats


def shared_forward(state: GANState, z, labels, *, generator) -> SharedForward:
  """G(z, c) with its pullback to G's params and G's updated BatchNorm statistics."""
  fake, pullback, g_batch_stats = jax.vjp(
      lambda p: _generate(generator, state, p, z, labels), state.g_params, has_aux=True)
  return SharedForward(fake, labels, pullback, g_batch_stats)


# ---- the two players' updates -------------------------------------------------------------


def d_update(state: GANState, batch: dict, key, *, generator, discriminator,
             optimizers: Optimizers, cfg: StepConfig,
             generated: SharedForward | None = None) -> tuple[GANState, dict]:
  """One D update on a real micro-batch: minimise d_loss (+ w·AC, + λ·GP, + γ/2·R1).

  AC (model.conditioning='ac'): CE(class logits, c) on the real and on the fake examples.

  ``generated``: the fakes (and their labels) to use; G(z, c) of fresh latents when None. G runs
  in train mode (batch statistics); its running BatchNorm statistics change in the G update only.
  """
  obj = losses.get(cfg.objective)
  x_real = batch["x"]
  y_real = batch["y"] if cfg.num_classes else None
  local = x_real.shape[0]
  k_lat, k_gp, k_nr, k_nf = jax.random.split(key, 4)
  if generated is None:
    z, y_fake = sample_latents(k_lat, local, cfg)
    fake, _ = _generate(generator, state, state.g_params, z, y_fake)
  else:
    fake, y_fake = generated.fake, generated.labels
  fake = lax.stop_gradient(fake)
  real_in = _instance_noise(k_nr, x_real, state.step, cfg)
  fake_in = _instance_noise(k_nf, fake, state.step, cfg)
  real_d_in, fake_d_in = _diff_augment(key, cfg, real_in, fake_in)
  both_x = jnp.concatenate([real_d_in, fake_d_in])
  both_y = None if y_real is None else jnp.concatenate([y_real, y_fake])
  alpha = None
  if obj.uses_gradient_penalty:
    alpha = _local_slice(jax.random.uniform(k_gp, (local * cfg.num_devices,)), cfg.num_devices)

  def loss_fn(d_params):
    if _has_batch_norm(state.d_batch_stats):  # D(real) and D(fake): two batches, as StudioGAN's
      real_o, d_batch_stats = _discriminate(
          discriminator, d_params, state.d_batch_stats, real_d_in, y_real, update_stats=True)
      fake_o, d_batch_stats = _discriminate(
          discriminator, d_params, d_batch_stats, fake_d_in, y_fake, update_stats=True)
      out = jax.tree.map(lambda r, f: jnp.concatenate([r, f]), real_o, fake_o)
    else:
      out, d_batch_stats = _discriminate(
          discriminator, d_params, state.d_batch_stats, both_x, both_y, update_stats=True)
    out, class_logits = _logits_and_classes(out)
    real_out, fake_out = out[:local], out[local:]
    adv = obj.d_loss(real_out, fake_out, label_smoothing=cfg.label_smoothing)
    ac = jnp.zeros(())
    if class_logits is not None:  # AC-GAN: D classifies real and fake examples
      ac = (losses.auxiliary_classifier_loss(class_logits[:local], y_real)
            + losses.auxiliary_classifier_loss(class_logits[local:], y_fake))
    # The penalties' critic starts from the power-iteration vectors u that the adversarial
    # forward started from (state.d_batch_stats, not the d_batch_stats it returned): Flax's
    # SpectralNorm iterates even with update_stats=False, so from the same u it computes the
    # same σ, W/σ is the D the adversarial term sees, and u advances once per D update. A
    # BatchNorm D is the function the adversarial term sees only in train mode (batch
    # statistics, as StudioGAN's penalties in src/worker.py): the critic runs in train mode
    # and its updated running statistics are dropped.
    critic = lambda x: _logits_and_classes(_discriminate(  # noqa: E731
        discriminator, d_params, state.d_batch_stats, x, y_real,
        update_stats=_has_batch_norm(state.d_batch_stats))[0])[0]
    gp = r1 = jnp.zeros(())
    if obj.uses_gradient_penalty:  # at un-augmented interpolates (StudioGAN's cal_grad_penalty)
      gp = losses.gradient_penalty(critic, real_in, fake_in, alpha=alpha)
    if cfg.r1_weight:  # E‖∇ₓ D(T(x))‖²: through the reals' DiffAugment T (StudioGAN's R1)
      r1 = losses.r1_penalty(lambda x: critic(_diff_augment(key, cfg, x)[0]), real_in)
    loss = adv + cfg.ac_weight * ac + cfg.gp_weight * gp + 0.5 * cfg.r1_weight * r1
    aux = dict(d_adv_loss=adv, d_ac_loss=ac, gp=gp, r1=r1, d_real=obj.d_prob_or_score(real_out),
               d_fake=obj.d_prob_or_score(fake_out))
    return loss, (aux, d_batch_stats)

  (loss, (aux, d_batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.d_params)
  d_params, d_opt_state, grads = updates.apply_gradients(
      state.d_params, state.d_opt_state, grads, optimizers.d)
  if cfg.weight_clip:
    d_params = jax.tree.map(lambda w: jnp.clip(w, -cfg.weight_clip, cfg.weight_clip), d_params)
  metrics = lax.pmean(dict(d_loss=loss, **aux), AXIS)
  metrics["d_grad_norm"] = optax.tree.norm(grads)
  finite = _finite(loss, metrics["d_grad_norm"])
  new = state.replace(d_params=d_params, d_opt_state=d_opt_state, d_batch_stats=d_batch_stats)
  return _finish(state, new, finite, metrics, "d", cfg)


def g_update(state: GANState, local_batch: int, key, *, generator, discriminator,
             optimizers: Optimizers, cfg: StepConfig,
             generated: SharedForward | None = None) -> tuple[GANState, dict]:
  """One G update: minimise g_loss(D(G(z))) (+ w·CE of D's class logits on G(z, c) against c,
  for AC-GAN), then update the EMAs of G's params and BatchNorm statistics,
  ema ← d·ema + (1 - d)·θ with d = ``ema_decay_at(step, ...)``.

  ∇_θ g_loss = (∂x/∂θ)ᵀ ∇_x g_loss(D(x)) at x = G_θ(z): the gradient at the fakes, pulled back
  through G. ``generated``: a ``shared_forward`` pass; G(z, c) of fresh latents when None.
  """
  obj = losses.get(cfg.objective)
  k_lat, k_noise = jax.random.split(key)
  if generated is None:
    generated = shared_forward(state, *sample_latents(k_lat, local_batch, cfg),
                               generator=generator)
  y_fake = generated.labels

  def loss_fn(x):
    (fake_in,) = _diff_augment(key, cfg, _instance_noise(k_noise, x, state.step, cfg))
    # A BatchNorm D normalises G's fakes by their batch statistics, as in its D update (its
    # running averages are left as they are: G's update changes G only).
    fake_out, class_logits = _logits_and_classes(_discriminate(
        discriminator, state.d_params, state.d_batch_stats, fake_in, y_fake,
        update_stats=_has_batch_norm(state.d_batch_stats))[0])
    ac = jnp.zeros(())
    if class_logits is not None:  # AC-GAN: G wants its fakes classified as asked
      ac = losses.auxiliary_classifier_loss(class_logits, y_fake)
    return obj.g_loss(fake_out) + cfg.ac_weight * ac, (fake_out, ac)

  (loss, (fake_out, g_ac)), fake_grads = jax.value_and_grad(loss_fn, has_aux=True)(
      generated.fake)
  (grads,) = generated.pullback(fake_grads)
  g_params, g_opt_state, grads = updates.apply_gradients(
      state.g_params, state.g_opt_state, grads, optimizers.g)
  decay = ema_decay_at(state.step, cfg.ema_decay, cfg.ema_start_step, cfg.ema_warmup)
  # Per-example |∂ℓ_G/∂a| at the fake outputs a: σ(a) for minimax, 1 - σ(a) for NS.
  logit_grad = jax.grad(lambda a: obj.g_loss(a) * a.shape[0])(fake_out)
  metrics = lax.pmean(dict(
      g_loss=loss, g_ac_loss=g_ac, g_logit_grad=jnp.mean(jnp.abs(logit_grad)),
      d_fake_g=obj.d_prob_or_score(fake_out)), AXIS)
  metrics["g_grad_norm"] = optax.tree.norm(grads)
  finite = _finite(loss, metrics["g_grad_norm"])
  new = state.replace(
      g_params=g_params, g_opt_state=g_opt_state, g_batch_stats=generated.g_batch_stats,
      ema_g_params=updates.ema(state.ema_g_params, g_params, decay),
      ema_g_batch_stats=updates.ema(state.ema_g_batch_stats, generated.g_batch_stats, decay))
  return _finish(state, new, finite, metrics, "g", cfg)


def _finish(old: GANState, new: GANState, finite, metrics, player: str, cfg: StepConfig):
  return updates.guard(old, new, finite, metrics, player, cfg.skip_nonfinite)


def train_step(state: GANState, batch: dict, train_key, *, generator, cfg: StepConfig,
               d_update: Callable, g_update: Callable) -> tuple[GANState, dict]:
  """n_critic D updates (one real micro-batch each, ``batch[...][:, j]``), then one G update.

  ``batch`` leaves have shape (local_batch, n_critic, ...). With ``cfg.scan_critic`` the D updates
  run as one ``lax.scan`` (the last one unrolled when it shares G's forward pass), the same
  updates compiled once rather than n_critic times. ``train_key``: the run's ``train``
  stream (``gan_jax.rng``); step s draws from fold_in(train_key, s), its j-th D update from
  fold_in of that and j, the G update from fold_in of it and n_critic. ``d_update`` and
  ``g_update``: the bound updates (``bind``). Returns the new state and scalar metrics averaged
  over devices.
  """
  step_key = jax.random.fold_in(train_key, state.step)
  local_batch = batch["x"].shape[0]
  shared = None  # The last D update and the G update share one forward pass of G.
  if cfg.g_reuses_d_latents:
    z, labels = sample_latents(jax.random.fold_in(step_key, cfg.n_critic + 1), local_batch, cfg)
    shared = shared_forward(state, z, labels, generator=generator)
  # With scan_critic, D updates 0..scanned-1 are one rolled loop; the rest (the one that takes
  # the shared forward pass) are unrolled.
  scanned = cfg.n_critic - (shared is not None) if cfg.scan_critic else 0
  scanned = scanned if scanned > 1 else 0
  d_metrics = []
  if scanned:
    def critic(state, j):
      micro = jax.tree.map(lambda a: lax.dynamic_index_in_dim(a, j, axis=1, keepdims=False), batch)
      return d_update(state, micro, jax.random.fold_in(step_key, j))

    state, stacked = lax.scan(critic, state, jnp.arange(scanned))
    d_metrics.append(jax.tree.map(lambda m: m[-1], stacked))
    d_metrics[-1]["d_nonfinite"] = jnp.sum(stacked["d_nonfinite"])
  for j in range(scanned, cfg.n_critic):
    micro = jax.tree.map(lambda a, j=j: a[:, j], batch)
    last_shared = shared if j == cfg.n_critic - 1 else None
    state, m = d_update(state, micro, jax.random.fold_in(step_key, j), generated=last_shared)
    d_metrics.append(m)
  state, g_metrics = g_update(state, local_batch, jax.random.fold_in(step_key, cfg.n_critic),
                              generated=shared)
  metrics = dict(d_metrics[-1])
  metrics["d_nonfinite"] = sum(m["d_nonfinite"] for m in d_metrics)
  metrics.update(g_metrics)
  metrics["g_param_norm"] = optax.tree.norm(state.g_params)
  metrics["d_param_norm"] = optax.tree.norm(state.d_params)
  metrics["skipped_updates"] = state.skipped_updates
  return state.replace(step=state.step + 1), metrics


class Steps(NamedTuple):
  """One run's step functions with its players bound (``bind``), and what they were bound to."""

  d_update: Callable  # (state, batch, key, generated=None) -> (state, metrics)
  g_update: Callable  # (state, local_batch, key, generated=None) -> (state, metrics)
  train_step: Callable  # (state, batch, train_key) -> (state, metrics)
  generator: Any
  discriminator: Any
  cfg: StepConfig

  @property
  def objective(self) -> losses.Objective:
    return losses.get(self.cfg.objective)


def bind(*, generator, discriminator, optimizers: Optimizers, cfg: StepConfig,
         d_update: Callable = d_update, g_update: Callable = g_update) -> Steps:
  """``d_update``, ``g_update`` and ``train_step`` with their dependencies bound once
  (functools.partial, as MAGVIT's train_g_d and Scenic's train_step are). ``d_update`` and
  ``g_update`` may be replaced, e.g. by a test's wrapper of the module functions."""
  deps = dict(generator=generator, discriminator=discriminator, optimizers=optimizers, cfg=cfg)
  d = functools.partial(d_update, **deps)
  g = functools.partial(g_update, **deps)
  step = functools.partial(train_step, generator=generator, cfg=cfg, d_update=d, g_update=g)
  return Steps(d, g, step, generator, discriminator, cfg)


def metric_names() -> tuple[str, ...]:
  """The order in which a non-finite quantity is reported."""
  return ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm", "gp", "r1", "d_real", "d_fake",
          "d_fake_g", "g_logit_grad", "d_param_norm", "g_param_norm")

