"""Orbax checkpoints of the canonical ``GANState``, with fallback past unreadable ones.

Orbax writes each step into a temporary directory and renames it when complete, so a process
killed mid-save never leaves a half-written step as the latest. A step whose files were damaged
afterwards fails to restore; ``restore_latest`` then says so and falls back to the previous step,
and the trainer moves the newer, unreadable steps aside (``set_aside_steps_after``) to save anew.
Orbax reads some damage back silently (a changed byte in an uncompressed array), so each step also
records a hash of its contents (``state_digest``) that a restore must reproduce. A state with a
NaN or inf is never saved, so the latest checkpoint is always one to resume from.

A save that fails (disk full, permission, an I/O error; Orbax reports it at the next save or
wait, since saves run in the background) raises ``workdir.WriteError`` naming the step and the OS
error. The failed step never became a finished step directory, so the previous step stays the
latest; the trainer's Checkpointer removes the failed save's temporary directory on the rerun.

A run whose batches stream through grain also saves the grain iterator's state with each step
(item ``grain_loader.DATA_ITEM`` beside the state's ``default`` item, so every reader of the state
reads such a step as any other); memory-path runs save the state alone, as before.
"""

from __future__ import annotations

import hashlib
import logging as std_logging
import os
import sys

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from gan_jax.errors import ConfigError
from gan_jax.training import workdir as workdir_lib

CHECKPOINT_DIR = "checkpoints"
DIGEST_KEY = "state_digest"
DEFAULT_ITEM = "default"  # Orbax's name of a single item: where the state lies in every step


class NonFiniteStateError(RuntimeError):
  """A state holding NaN or inf was about to be checkpointed."""


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

  def __init__(self, workdir: str, *, max_to_keep: int = 3, cleanup_tmp: bool = False,
               with_data_iterator: bool = False):
    """``cleanup_tmp`` removes temporary directories of saves that failed or were killed; only
    the workdir's one writer (the trainer, holding the lock) may pass it.
    ``with_data_iterator``: every save also holds a grain iterator state (grain runs)."""
    from gan_jax.data import grain_loader

    self.directory = checkpoint_dir(workdir)
    self.with_data_iterator = with_data_iterator
    items = {"item_names": (DEFAULT_ITEM, grain_loader.DATA_ITEM)} if with_data_iterator else {}
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             cleanup_tmp_directories=cleanup_tmp), **items)
    self._pending = None  # the step of the save in flight
    self._failed = False

  def save(self, step: int, state, data_state=None) -> None:
    """Starts an asynchronous save of ``state`` (host numpy copy) as ``step``, with
    ``data_state`` (a ``grain_loader.IteratorState``) when ``with_data_iterator``."""
    host_state = flax.serialization.to_state_dict(jax.device_get(state))
    bad = _first_nonfinite_leaf(host_state)
    if bad is not None:
      raise NonFiniteStateError(
          f"step {step}: {bad} is not finite; not saving it (last checkpoint: "
          f"{self.latest_step()})")
    self.wait()
    args = ocp.args.StandardSave(host_state)
    if self.with_data_iterator:
      from gan_jax.data import grain_loader

      args = ocp.args.Composite(**{DEFAULT_ITEM: args,
                                   grain_loader.DATA_ITEM: grain_loader.save_args(data_state)})
    try:
      self.manager.save(step, args=args, force=True,
                        custom_metadata={DIGEST_KEY: state_digest(host_state)})
    except Exception as e:  # noqa: BLE001 - any failure to write is reported the same way
      raise self._save_failed(step, e) from e
    self._pending = step

  def _save_failed(self, step: int, error: BaseException) -> workdir_lib.WriteError:
    self._failed = True
    latest = max(_finished_steps(self.directory), default=None)
    return workdir_lib.WriteError(
        f"step {step}: saving the checkpoint to {self.directory} failed "
        f"({workdir_lib.os_error_text(error)}); the latest checkpoint is "
        f"{'none' if latest is None else f'step {latest}'}; rerun the same command to resume "
        "from it")

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def restore_latest(self, target):
    """The newest readable checkpoint as ``(state, step)``, or None when there is none.

    ``target`` is a state of the right structure (e.g. a freshly initialised one). Unreadable
    steps are reported and skipped; if every step is unreadable this raises ConfigError rather
    than start from scratch over an existing run.
    """
    steps = sorted(self.manager.all_steps(), reverse=True)
    for i, step in enumerate(steps):
      try:
        restored = self.restore(step, target)
      except Exception as e:  # noqa: BLE001 - any failure means this step is unusable
        _silence_failed_read_noise()
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        fallback = f"falling back to step {steps[i + 1]}" if i + 1 < len(steps) else "none left"
        logging.info("checkpoint step %d in %s is unreadable (%s); %s",
                     step, self.directory, reason, fallback)
        print(f"warning: checkpoint step {step} is unreadable ({reason}); {fallback}",
              file=sys.stderr, flush=True)
        continue
      return restored, step
    if steps:
      raise ConfigError(
          f"every checkpoint in {self.directory} (steps {steps}) is unreadable; refusing to "
          "start from scratch over an existing run: delete the workdir or pick another one")
    return None

  def restore(self, step: int, target):
    """Checkpoint ``step`` as a state like ``target``; raises if it is damaged or non-finite."""
    target_dict = flax.serialization.to_state_dict(jax.device_get(target))
    args = ocp.args.StandardRestore(target_dict)
    if self.with_data_iterator:
      args = ocp.args.Composite(**{DEFAULT_ITEM: args})
    restored = self.manager.restore(step, args=args)
    if self.with_data_iterator:
      restored = restored[DEFAULT_ITEM]
    _check_structure(target_dict, restored)
    saved_digest = (self.manager.metadata(step).custom_metadata or {}).get(DIGEST_KEY)
    if saved_digest is not None and saved_digest != state_digest(restored):
      raise ValueError("its contents do not match the digest saved with them")
    return flax.serialization.from_state_dict(target, restored)

  def restore_data_iterator(self, step: int, iterator) -> None:
    """Sets a grain ``iterator`` to the state saved with ``step``."""
    from gan_jax.data import grain_loader

    if not os.path.isdir(os.path.join(self.directory, str(step), grain_loader.DATA_ITEM)):
      raise ConfigError(
          f"checkpoint step {step} in {self.directory} holds no grain iterator state (it was "
          "written by a data.loader='memory' run); resume it with --config.data.loader=memory")
    self.manager.restore(step, args=ocp.args.Composite(
        **{grain_loader.DATA_ITEM: grain_loader.restore_args(iterator)}))

  def set_aside_steps_after(self, step: int) -> list[int]:
    """Renames the steps newer than ``step`` (unreadable ones) to ``<step>.unreadable``.

    The run that resumed from ``step`` saves those steps again; the damaged files stay for
    inspection. Returns the steps moved.
    """
    newer = [s for s in self.manager.all_steps() if s > step]
    if newer and jax.process_index() == 0:
      for s in newer:
        path = os.path.join(self.directory, str(s))
        aside, n = f"{path}.unreadable", 1
        while os.path.exists(aside):
          aside, n = f"{path}.unreadable{n}", n + 1
        os.rename(path, aside)
        logging.warning("moved unreadable checkpoint step %d to %s", s, aside)
    if newer:
      if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("gan_jax set_aside_steps_after")
      self.manager.reload()
    return newer

  def wait(self) -> None:
    """Waits for the save in flight; raises WriteError if it failed."""
    step, self._pending = self._pending, None
    try:
      self.manager.wait_until_finished()
    except Exception as e:  # noqa: BLE001 - any failure to write is reported the same way
      raise self._save_failed(step, e) from e

  def close(self) -> None:
    """Closes the manager (after a reported failure, without raising it again)."""
    try:
      self.manager.close()
    except Exception:
      if not self._failed:
        raise


class _FailedReadFilter(std_logging.Filter):
  """Drops asyncio's report of read futures and tasks that a failed restore left unretrieved."""

  def filter(self, record) -> bool:
    return not record.getMessage().startswith(
        ("Future exception was never retrieved", "Task exception was never retrieved"))


def _silence_failed_read_noise() -> None:
  """Silences the aftermath of a failed restore for the rest of the process.

  TensorStore may still complete the other reads of a failed restore: their callbacks target the
  event loop Orbax has closed ('Event loop is closed', reported as unraisable) or their futures
  are never retrieved (logged by asyncio). Both are harmless; every other error passes.
  """
  previous = sys.unraisablehook
  if getattr(previous, "drops_closed_loop_errors", False):
    return
  std_logging.getLogger("asyncio").addFilter(_FailedReadFilter())

  def hook(unraisable):
    error = unraisable.exc_value
    if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
      return
    previous(unraisable)

  hook.drops_closed_loop_errors = True
  sys.unraisablehook = hook


def state_digest(host_state) -> str:
  """A hash of every leaf's dtype, shape and bytes, in tree order."""
  digest = hashlib.blake2b(digest_size=16)
  for leaf in jax.tree.leaves(host_state):
    array = np.ascontiguousarray(leaf)
    digest.update(f"{array.dtype}{array.shape}".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def _first_nonfinite_leaf(host_state) -> str | None:
  """The path of the first floating-point leaf that holds a NaN or inf, if any."""
  for path, leaf in jax.tree_util.tree_leaves_with_path(host_state):
    array = np.asarray(leaf)
    if np.issubdtype(array.dtype, np.inexact) and not np.all(np.isfinite(array)):
      return jax.tree_util.keystr(path)
  return None


def _check_structure(target: dict, restored: dict) -> None:
  """Raises if the restored tree's leaves differ in shape or are not finite."""
  t_leaves, t_def = jax.tree.flatten(target)
  r_leaves, r_def = jax.tree.flatten(restored)
  if t_def != r_def:
    raise ValueError("checkpoint tree structure differs from the model's")
  for t, r in zip(t_leaves, r_leaves, strict=True):
    if np.shape(t) != np.shape(r):
      raise ValueError(f"leaf shape {np.shape(r)} != expected {np.shape(t)}")
  bad = _first_nonfinite_leaf(restored)
  if bad is not None:
    raise ValueError(f"{bad} is not finite")
