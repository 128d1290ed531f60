"""Orbax checkpoints of the canonical ``GANState``, with fallback past unreadable ones.

Orbax writes each step into a temporary directory and renames it when complete, so a process
killed mid-save never leaves a half-written step as the latest. A step whose files were damaged
afterwards fails to restore; ``restore_latest`` then says so and falls back to the previous step.
"""

from __future__ import annotations

import os

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from gan_jax.errors import ConfigError

CHECKPOINT_DIR = "checkpoints"


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)


def has_checkpoints(workdir: str) -> bool:
  """Whether the workdir holds any finished checkpoint step (readable or not)."""
  return bool(_finished_steps(checkpoint_dir(workdir)))


def _finished_steps(directory: str) -> list[int]:
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


class Checkpointer:
  """Saves and restores host copies of the state under ``workdir/checkpoints/<step>``."""

  def __init__(self, workdir: str, *, max_to_keep: int = 3):
    self.directory = checkpoint_dir(workdir)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def save(self, step: int, state) -> None:
    """Starts an asynchronous save of ``state`` (host numpy copy) as ``step``."""
    host_state = flax.serialization.to_state_dict(jax.device_get(state))
    self.manager.save(step, args=ocp.args.StandardSave(host_state), force=True)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def restore_latest(self, target):
    """The newest readable checkpoint as ``(state, step)``, or None when there is none.

    ``target`` is a state of the right structure (e.g. a freshly initialised one). Unreadable
    steps are reported and skipped; if every step is unreadable this raises ConfigError rather
    than start from scratch over an existing run.
    """
    target_dict = flax.serialization.to_state_dict(jax.device_get(target))
    steps = sorted(self.manager.all_steps(), reverse=True)
    for i, step in enumerate(steps):
      try:
        restored = self.manager.restore(step, args=ocp.args.StandardRestore(target_dict))
        _check_structure(target_dict, restored)
      except Exception as e:  # noqa: BLE001 - any failure means this step is unusable
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        fallback = f"falling back to step {steps[i + 1]}" if i + 1 < len(steps) else "none left"
        logging.warning("checkpoint step %d in %s is unreadable (%s); %s",
                        step, self.directory, reason, fallback)
        print(f"warning: checkpoint step {step} is unreadable ({reason}); {fallback}",
              flush=True)
        continue
      return flax.serialization.from_state_dict(target, restored), step
    if steps:
      raise ConfigError(
          f"every checkpoint in {self.directory} (steps {steps}) is unreadable; refusing to "
          "start from scratch over an existing run: delete the workdir or pick another one")
    return None

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()


def _check_structure(target: dict, restored: dict) -> None:
  """Raises if the restored tree's leaves differ in shape or are not finite."""
  t_leaves, t_def = jax.tree.flatten(target)
  r_leaves, r_def = jax.tree.flatten(restored)
  if t_def != r_def:
    raise ValueError("checkpoint tree structure differs from the model's")
  for t, r in zip(t_leaves, r_leaves, strict=True):
    if np.shape(t) != np.shape(r):
      raise ValueError(f"leaf shape {np.shape(r)} != expected {np.shape(t)}")
