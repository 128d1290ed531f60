"""The ``Dataset`` record every loader returns: float32 in [-1, 1] (images, NHWC) or raw 2-D
points, held fully in host memory."""

from __future__ import annotations

import dataclasses

import numpy as np

# The names load_dataset reads itself; any other name is a TFDS dataset.
BUILTIN_DATASETS = ("mnist", "digits", "mog_ring", "mog_grid", "npz")


@dataclasses.dataclass(frozen=True)
class Dataset:
  """An in-memory dataset. Images are NHWC float32 in [-1, 1]; points are (N, 2) float32."""

  name: str
  train_x: np.ndarray
  train_y: np.ndarray | None
  test_x: np.ndarray
  test_y: np.ndarray | None
  num_classes: int = 0
  # For mixtures of Gaussians: the mode centres (K, 2) and the per-mode std.
  mode_centers: np.ndarray | None = None
  mode_std: float = 0.0
  # (process_index, process_count) when train_x holds only this process's shard (TFDS datasets).
  process_shard: tuple[int, int] | None = None
  # Set when training batches stream through grain (gan_jax.data.grain_loader.Stream); train_x
  # then holds a reference subset of the training split, for samples' diversity and evaluation.
  stream: object | None = None

  @property
  def is_image(self) -> bool:
    return self.train_x.ndim == 4

  @property
  def has_labels(self) -> bool:
    return self.train_y is not None and self.num_classes > 0

  @property
  def num_train_examples(self) -> int:
    return self.stream.num_examples if self.stream is not None else len(self.train_x)

  @property
  def example_shape(self) -> tuple[int, ...]:
    return tuple(self.train_x.shape[1:])


def to_unit_range(x: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1], with a trailing channel axis for greyscale."""
  x = x.astype(np.float32) / 127.5 - 1.0
  return x[..., None] if x.ndim == 3 else x
