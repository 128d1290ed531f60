"""Datasets stored as idx files (LeCun's MNIST format), such as Debian's dataset-fashion-mnist.

  apt-get install dataset-fashion-mnist   # /usr/share/datasets/fashion-mnist/*-ubyte.gz

An idx file is a big-endian header (two zero bytes, a type code, the number of dimensions, then
each dimension as an int32) followed by the elements; 0x08 is unsigned bytes. ``load_idx_dir``
reads the four files of a train/test split pair (gzipped or not) into a ``Dataset``.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from gan_jax.data.dataset import Dataset, to_unit_range
from gan_jax.errors import ConfigError

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
_UBYTE = 0x08


def read_idx(path: str) -> np.ndarray:
  """The uint8 array of one idx file (``.gz`` or plain); ConfigError when it is malformed."""
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError) as e:
    raise ConfigError(f"{path} is not a readable idx file ({type(e).__name__})") from None
  if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _UBYTE or not 1 <= data[3] <= 4:
    raise ConfigError(f"{path} is not an idx file of unsigned bytes")
  ndim = data[3]
  shape = struct.unpack(f">{ndim}i", data[4:4 + 4 * ndim])
  body = memoryview(data)[4 + 4 * ndim:]
  if min(shape) < 0 or len(body) != int(np.prod(shape, dtype=np.int64)):
    raise ConfigError(f"{path}: header shape {shape} does not match its {len(body)} bytes")
  return np.frombuffer(body, np.uint8).reshape(shape)


def _find(directory: str, stem: str) -> str:
  for name in (stem + ".gz", stem):
    if os.path.isfile(os.path.join(directory, name)):
      return os.path.join(directory, name)
  raise ConfigError(f"{directory} lacks {stem}[.gz]")


def has_idx_dir(directory: str) -> bool:
  return all(os.path.isfile(os.path.join(directory, s + ".gz"))
             or os.path.isfile(os.path.join(directory, s)) for s in FILES.values())


def load_idx_dir(directory: str, name: str) -> Dataset:
  """The Dataset of a directory's four idx files: images (N, H, W, 1) in [-1, 1], int labels."""
  arrays = {k: read_idx(_find(directory, stem)) for k, stem in FILES.items()}
  for split in ("train", "test"):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
      raise ConfigError(f"{directory}: {split} images {x.shape} and labels {y.shape} differ")
  return Dataset(
      name=name, train_x=to_unit_range(arrays["x_train"]),
      train_y=arrays["y_train"].astype(np.int32),
      test_x=to_unit_range(arrays["x_test"]),
      test_y=arrays["y_test"].astype(np.int32),
      num_classes=int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1)
