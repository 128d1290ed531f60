"""What every player of every game does with its gradients: written once, used by all games.

A player is a network with its own optimiser and state. One update of a player, inside the
data-parallel map over the named axis ``AXIS``:

  g ← pmean(∇θ loss)  (the mean over devices of each device's gradient),
  θ ← θ + optax_update(g),
  and, when the game keeps one, an EMA of θ: ema ← d·ema + (1 - d)·θ.

An update whose loss or ‖g‖ is not finite on any device is flagged; with ``skip_nonfinite`` the
whole update is discarded (every device keeps its old state) and counted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax.errors import check_choice

AXIS = "batch"

LR_SCHEDULES = ("constant", "linear", "constant_then_linear")


def constant_then_linear(lr: float, num_updates: int) -> optax.Schedule:
  """CycleGAN's (and pix2pix's) decay: lr for the first ⌊n/2⌋ updates, then linearly to 0 at
  update n (their ``n_epochs`` constant + ``n_epochs_decay`` linear, in updates):
  lr_t = lr·min(1, (n - t)/(n - ⌊n/2⌋))."""
  hold = num_updates // 2
  return optax.join_schedules(
      [optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, max(num_updates - hold, 1))],
      [hold])


def adam(lr: float, b1: float, b2: float, *, schedule: str = "constant", num_updates: int = 1
         ) -> optax.GradientTransformation:
  """Adam(lr, β1, β2); ``schedule='linear'`` decays lr linearly to 0 over ``num_updates`` of
  this player's updates (not train steps: a critic updated n_critic times a step counts each),
  ``'constant_then_linear'`` holds it for the first half of them first
  (``constant_then_linear``)."""
  if schedule == "linear":
    rate = optax.linear_schedule(lr, 0.0, num_updates)
  elif schedule == "constant_then_linear":
    rate = constant_then_linear(lr, num_updates)
  else:
    rate = lr
  return optax.adam(rate, b1=b1, b2=b2)


def local_slice(global_array, num_devices: int):
  """This device's slice (along axis 0) of an array drawn for the global batch, so that a draw
  on k devices equals the same draw for the global batch on one."""
  if num_devices == 1:
    return global_array
  n = global_array.shape[0] // num_devices
  return lax.dynamic_slice_in_dim(global_array, lax.axis_index(AXIS) * n, n)


def apply_gradients(params, opt_state, grads, optimizer: optax.GradientTransformation):
  """(new params, new optimiser state, device-mean gradients): one optax step on pmean(grads)."""
  grads = lax.pmean(grads, AXIS)
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, grads


def finite(loss, grad_norm) -> jax.Array:
  """Whether an update is finite: its loss and ‖∇‖ = sqrt(Σ g²).

  ‖∇‖ is inf or NaN whenever any gradient entry is (and when Σ g² overflows float32, above
  ~1.8e19). One check on the norm the step logs anyway, rather than one per parameter leaf,
  takes ~0.5 s off the DCGAN step's compile time on XLA:CPU.
  """
  return jnp.isfinite(loss) & jnp.isfinite(grad_norm)


def keep_if(ok, new, old):
  """``new`` where ``ok``, else ``old``, leaf by leaf."""
  return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


def guard(old, new, is_finite, metrics: dict, player: str, skip_nonfinite: bool):
  """The non-finite guard of one player's update: ``metrics[player + '_nonfinite']`` is 1 when
  any device's update was not finite; with ``skip_nonfinite`` such an update is discarded (the
  state stays ``old``) and ``skipped_updates`` counts it. ``old`` and ``new`` are game states
  with a ``skipped_updates`` counter."""
  is_finite = lax.pmin(is_finite.astype(jnp.int32), AXIS).astype(bool)
  metrics[f"{player}_nonfinite"] = (~is_finite).astype(jnp.int32)
  if skip_nonfinite:
    new = keep_if(is_finite, new, old).replace(
        skipped_updates=old.skipped_updates + (~is_finite).astype(jnp.int32))
  return new, metrics


EMA_WARMUPS = ("tf", "none")


def ema_decay_at(step, decay: float, start_step: int = 0, warmup: str = "tf"):
  """The EMA decay of the update at train step ``step`` (0-based, updates done before it).

  Before ``start_step`` it is 0: the EMA copies the live weights. From it on, with
  t = step - start_step:
  - warmup='tf': min(decay, (1 + t) / (10 + t)) (TensorFlow's ExponentialMovingAverage
    ``num_updates`` warm-up): 0.1 at the first averaged update, 0.5 at t = 8, 0.9 at t = 80, and
    ``decay`` from t = (10·decay - 1) / (1 - decay) on (8990 for 0.999, 89 990 for 0.9999), so
    the average soon forgets the random initialisation.
  - warmup='none': ``decay`` (StudioGAN's and BigGAN-PyTorch's Ema: 0 before start_iter, then
    constant).
  """
  t = jnp.asarray(step, jnp.float32) - start_step
  after = decay if warmup == "none" else jnp.minimum(decay, (1.0 + t) / (10.0 + t))
  return jnp.where(t < 0, 0.0, after)


def ema(average, new, decay):
  """average ← decay·average + (1 - decay)·new, leaf by leaf."""
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, average, new)


def validate_config(config) -> None:
  """ConfigError for a bad ``optim.schedule`` or ``ema_warmup``."""
  check_choice("optim.schedule", config.optim.schedule, LR_SCHEDULES)
  check_choice("ema_warmup", config.get("ema_warmup", "tf"), EMA_WARMUPS)
