"""Batches as a pure function of (seed, step).

Step ``s`` of a run with ``n_critic`` critic updates reads the micro-batches ``s * n_critic + j``
of an epoch-wise permutation drawn from ``np.random.default_rng([seed, epoch])`` (``gan_jax.rng``'s
``data`` stream). Resuming at step ``s`` therefore reads exactly the batches an uninterrupted run
would have read. Random horizontal flips (``data.random_flip``) are likewise drawn per step, from
``default_rng([seed, FLIP_STREAM, s])``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gan_jax.data.dataset import Dataset
from gan_jax.errors import ConfigError

FLIP_STREAM = 0xF11B  # Keeps the flip draws apart from the permutations' [seed, epoch].


class BatchSampler:
  """Maps a global micro-step to example indices, drawing one permutation per epoch.

  Micro-step ``m`` reads ``perm_e[i*B:(i+1)*B]`` with ``e, i = divmod(m, n // B)``: every epoch
  visits each example at most once and drops the remainder. ``stream`` (optional) draws the
  permutations from ``default_rng([seed, stream, epoch])`` instead: an independent order over
  the same seed (the two domains of unpaired translation data).
  """

  def __init__(self, num_examples: int, batch_size: int, seed: int, stream: int | None = None):
    if batch_size > num_examples:
      raise ConfigError(
          f"train.batch_size={batch_size} exceeds the dataset's {num_examples} examples")
    self.n, self.batch_size, self.seed = num_examples, batch_size, seed
    self._key = (seed,) if stream is None else (seed, stream)
    self.steps_per_epoch = num_examples // batch_size
    self._epoch, self._perm = -1, None

  def indices(self, micro_step: int) -> np.ndarray:
    epoch, i = divmod(micro_step, self.steps_per_epoch)
    if epoch != self._epoch:
      self._perm = np.random.default_rng([*self._key, epoch]).permutation(self.n)
      self._epoch = epoch
    return self._perm[i * self.batch_size:(i + 1) * self.batch_size]


def make_batch_fn(dataset: Dataset, *, batch_size: int, n_critic: int, seed: int,
                  with_labels: bool = False, process_index: int = 0,
                  process_count: int = 1, random_flip: bool = False) -> Callable[[int], dict]:
  """Returns ``batch(step)``: this process's slice of the global batch of train step ``step``.

  Leaves have shape (local_batch, n_critic, ...): examples first, so that the batch can be split
  across devices along axis 0; axis 1 indexes the critic updates of the step. ``random_flip``
  mirrors each image (NHWC) left-right with probability 1/2, from draws for the global batch of
  the step, so the flips depend on (seed, step) alone.
  """
  local = batch_size // process_count
  if dataset.process_shard is not None:
    # train_x is this process's own shard: its part of every global batch is drawn from it.
    sampler = BatchSampler(len(dataset.train_x), local, seed)
    lo, hi = 0, local
  else:
    sampler = BatchSampler(len(dataset.train_x), batch_size, seed)
    lo, hi = process_index * local, (process_index + 1) * local

  def batch(step: int) -> dict:
    idx = np.stack([sampler.indices(step * n_critic + j) for j in range(n_critic)], 1)[lo:hi]
    out = {"x": dataset.train_x[idx]}
    if random_flip:
      flip = np.random.default_rng([seed, FLIP_STREAM, step]).random((batch_size, n_critic)) < 0.5
      flip = flip[process_index * local:(process_index + 1) * local]
      out["x"] = np.where(flip[:, :, None, None, None], out["x"][:, :, :, ::-1], out["x"])
    if with_labels:
      out["y"] = dataset.train_y[idx]
    return out

  return batch
