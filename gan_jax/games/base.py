"""A GAN game, as the trainer sees it.

A game names its players (networks, each with its own optimiser and state), how a batch flows
through them, and the losses each side minimises, as pure functions. The trainer
(``training.loop``) knows nothing else about it: it asks the game for

- ``init_state(key)``: the one pytree (a ``flax.struct`` dataclass with ``step`` and
  ``skipped_updates``) that the run carries, checkpoints and resumes;
- ``train_step(state, batch, train_key) -> (state, metrics)``: the per-device step, pure, run
  inside the data-parallel map over ``games.updates.AXIS`` (gradients and metrics averaged
  over devices there); step ``s`` draws from ``fold_in(train_key, s)``;
- ``batch_fn(process_index=, process_count=)``: ``batch(step)``, this process's part of the
  global batch of train step ``step`` as numpy arrays, a pure function of (seed, step);
- host-side reporting: the quantities checked for non-finite values, the progress line, a
  picture of the state, its evaluation, and its diagnostics.

Everything else (optimiser steps, EMA, the non-finite guard: ``games.updates``; devices,
checkpoints, resume, preemption, logging, evaluation schedule, ``ablate``) is the trainer's and
serves every game alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class Game:
  """Base class of the games; a subclass sets ``name`` and implements the device side."""

  name = ""
  # Per-step metrics checked for non-finite values, in the order they are reported.
  checked_metrics: tuple[str, ...] = ()
  # Per-step counts of non-finite updates (one per player), summed over a logging window.
  nonfinite_metrics: tuple[str, ...] = ()
  # (label, metric, format) of the progress line printed at every logging step.
  progress_metrics: tuple[tuple[str, str, str], ...] = ()
  # The directions a translation game maps images in ('a2b', 'b2a'); () for games that sample.
  directions: tuple[str, ...] = ()

  def __init__(self, config, dataset, *, num_devices: int):
    self.config, self.dataset, self.num_devices = config, dataset, num_devices

  @classmethod
  def load_dataset(cls, data_config):
    """The game's data for ``config.data`` (``experiment.build`` calls it): the GAN's
    ``data.load_dataset`` unless a game reads another kind (e.g. translation pairs)."""
    from gan_jax.data import sources

    return sources.load_dataset(data_config)

  # ---- device side ---------------------------------------------------------------------------

  def init_state(self, key):
    raise NotImplementedError

  def train_step(self, state, batch, train_key):
    raise NotImplementedError

  # ---- host side -----------------------------------------------------------------------------

  def batch_fn(self, *, process_index: int = 0, process_count: int = 1) -> Callable[[int], dict]:
    raise NotImplementedError

  def progress(self, record: dict) -> str:
    """The body of the progress line of a logged record."""
    return " ".join(f"{label}={record[key]:{fmt}}" for label, key, fmt in self.progress_metrics
                    if key in record)

  def window_diagnostics(self, per_step: list[dict], history: list[dict]) -> dict:
    """Scalars computed from one logging window's per-step metrics, joined to its record."""
    return {}

  def picture(self, state, seed: int) -> tuple[np.ndarray, dict]:
    """A uint8 picture of the state (written to samples/ and TensorBoard) and scalars that
    join the record of its step."""
    raise NotImplementedError

  def evaluate(self, state, *, num: int, seed: int = 0, **kwargs) -> dict:
    """The game's metrics of ``state``, a flat dict of floats (and lists)."""
    raise NotImplementedError

  def summarize(self, history: list[dict]) -> dict:
    """Diagnostics of a finished run's logged history."""
    return {}

  def samples(self, state, *, num: int, seed: int, **kwargs) -> dict:
    """What ``gan_jax.sample`` writes: {'images' (N, H, W, C) in [-1, 1], ...}."""
    raise NotImplementedError


def to_float(out: dict) -> dict:
  """numpy scalars as Python floats (bools and lists as they are), for JSON."""
  return {k: (float(v) if isinstance(v, np.floating | float | int) and not isinstance(v, bool)
              else v) for k, v in out.items()}
