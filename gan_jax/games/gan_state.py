"""The one pytree that a GAN run carries from step to step, and how it is created.

The optax transforms are not part of the state: ``Optimizers`` holds them and the step functions
close over it, so the state stays a plain pytree of arrays that Orbax can save.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax.games import updates


@flax.struct.dataclass
class GANState:
  """Everything that changes during training, for G and D together."""

  step: jax.Array  # Train steps done (int32 scalar); its draws: fold_in(train_key, step).
  g_params: Any
  d_params: Any
  g_opt_state: Any
  d_opt_state: Any
  g_batch_stats: Any  # G's BatchNorm running statistics ({} when G has none).
  d_batch_stats: Any  # D's spectral-norm power-iteration vectors ({} when D has none).
  ema_g_params: Any  # Exponential moving average of g_params, used for sampling.
  # The same average of g_batch_stats (G's BatchNorm statistics for ema_bn_stats='ema').
  ema_g_batch_stats: Any
  skipped_updates: jax.Array  # Non-finite updates skipped (train.skip_nonfinite).


class Optimizers(NamedTuple):
  g: optax.GradientTransformation
  d: optax.GradientTransformation


LR_SCHEDULES = updates.LR_SCHEDULES


def make_optimizers(optim_config, *, num_steps: int = 1, n_critic: int = 1) -> Optimizers:
  """Adam(lr, β1, β2) for each player; ``schedule='linear'`` decays each lr linearly to 0 over
  that player's updates (num_steps for G, num_steps·n_critic for D)."""
  c = optim_config
  schedule = c.get("schedule", "constant")
  return Optimizers(
      g=updates.adam(c.g_lr, c.b1, c.b2, schedule=schedule, num_updates=num_steps),
      d=updates.adam(c.d_lr, c.b1, c.b2, schedule=schedule, num_updates=num_steps * n_critic))


def create_state(key, *, generator, discriminator, optimizers: Optimizers, z_dim: int,
                 example_shape, num_classes: int = 0) -> GANState:
  """Initialises both players' variables and optimiser states."""
  g_key, d_key = jax.random.split(key)
  z = jnp.zeros((2, z_dim), jnp.float32)
  x = jnp.zeros((2,) + tuple(example_shape), jnp.float32)
  labels = jnp.zeros((2,), jnp.int32) if num_classes else None
  g_vars = generator.init(g_key, z, labels, train=False)
  d_vars = discriminator.init(d_key, x, labels, train=False)
  g_params, d_params = g_vars["params"], d_vars["params"]
  return GANState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      d_params=d_params,
      g_opt_state=optimizers.g.init(g_params),
      d_opt_state=optimizers.d.init(d_params),
      g_batch_stats=g_vars.get("batch_stats", {}),
      d_batch_stats=d_vars.get("batch_stats", {}),
      ema_g_params=jax.tree.map(jnp.copy, g_params),
      ema_g_batch_stats=jax.tree.map(jnp.copy, g_vars.get("batch_stats", {})),
      skipped_updates=jnp.zeros((), jnp.int32))

