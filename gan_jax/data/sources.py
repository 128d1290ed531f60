"""The dataset loaders: the embedded MNIST, scikit-learn's digits, the 2-D mixtures, a
Keras-layout ``.npz``, and (``tfds_source``) any TFDS image dataset, each as a ``Dataset``.

Every dataset is loaded fully into host memory as float32 in [-1, 1] (images, NHWC) or as raw 2-D
points; ``sampler`` turns it into batches.
"""

from __future__ import annotations

import importlib.resources
import os

import numpy as np

from gan_jax.data import idx, tfds_source
from gan_jax.data.dataset import BUILTIN_DATASETS, Dataset, to_unit_range  # noqa: F401
from gan_jax.errors import ConfigError

EMBEDDED_MNIST = "assets/mnist.npz"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _check_npz(arrays: dict, where: str) -> None:
  missing = [k for k in ("x_train",) if k not in arrays]
  if missing:
    raise ConfigError(
        f"data.path={where!r} lacks key(s) {missing}; expected the Keras layout "
        f"{', '.join(NPZ_KEYS)} (x_* uint8 (N,H,W) or (N,H,W,C))")
  for key in ("x_train", "x_test"):
    if key not in arrays:
      continue
    x = arrays[key]
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
      raise ConfigError(
          f"data.path={where!r}: {key} must be uint8 of shape (N,H,W) or (N,H,W,C), "
          f"got {x.dtype} {x.shape}")
  for xk, yk in (("x_train", "y_train"), ("x_test", "y_test")):
    if yk in arrays and xk in arrays:
      y = arrays[yk]
      if y.ndim != 1 or len(y) != len(arrays[xk]) or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(
            f"data.path={where!r}: {yk} must be integer labels of shape ({len(arrays[xk])},), "
            f"got {y.dtype} {y.shape}")


def load_npz(path: str, name: str = "npz") -> Dataset:
  """Loads an npz in the Keras layout (x_train, y_train, x_test, y_test)."""
  if not os.path.isfile(path):
    raise ConfigError(f"data.path={path!r} does not exist or is not a file")
  try:
    loaded = np.load(path, allow_pickle=False)
  except Exception:  # noqa: BLE001 - numpy's reasons (e.g. "pickled data") mislead here
    raise ConfigError(f"data.path={path!r} is not a readable .npz file (np.savez/"
                      "np.savez_compressed output with x_train, y_train, x_test, y_test)") from None
  if not isinstance(loaded, np.lib.npyio.NpzFile):
    raise ConfigError(f"data.path={path!r} holds a single .npy array, not an .npz archive of "
                      "x_train, y_train, x_test, y_test")
  try:
    with loaded as f:
      arrays = {k: f[k] for k in f.files}
  except Exception as e:  # noqa: BLE001 - a damaged member is a config error too
    raise ConfigError(f"data.path={path!r} has an unreadable array ({type(e).__name__})") from None
  for key in ("y_train", "y_test"):  # keras.datasets.cifar10's labels have shape (N, 1)
    if key in arrays and arrays[key].ndim == 2 and arrays[key].shape[1] == 1:
      arrays[key] = arrays[key][:, 0]
  _check_npz(arrays, path)
  train_y = arrays.get("y_train")
  test_y = arrays.get("y_test")
  test_x = arrays.get("x_test", arrays["x_train"][:0])
  num_classes = int(max(train_y.max(), -1 if test_y is None else test_y.max()) + 1) if (
      train_y is not None and len(train_y)) else 0
  return Dataset(
      name=name,
      train_x=to_unit_range(arrays["x_train"]),
      train_y=None if train_y is None else train_y.astype(np.int32),
      test_x=to_unit_range(test_x),
      test_y=None if test_y is None else test_y.astype(np.int32),
      num_classes=num_classes)


def embedded_mnist_path() -> str:
  return str(importlib.resources.files("gan_jax").joinpath(EMBEDDED_MNIST))


def load_digits(image_size: int = 28) -> Dataset:
  """scikit-learn's 8x8 digits, bilinearly resized to image_size x image_size."""
  from PIL import Image
  from sklearn.datasets import load_digits as sk_load_digits

  digits = sk_load_digits()
  imgs = (digits.images / 16.0 * 255.0).astype(np.uint8)
  resized = np.stack([
      np.asarray(Image.fromarray(im).resize((image_size, image_size), Image.BILINEAR))
      for im in imgs])
  labels = digits.target.astype(np.int32)
  x = to_unit_range(resized)
  # A fixed 80/20 split; sklearn's order is already mixed.
  cut = int(0.8 * len(x))
  return Dataset("digits", x[:cut], labels[:cut], x[cut:], labels[cut:], num_classes=10)


def mog_centers(name: str) -> tuple[np.ndarray, float]:
  """Mode centres and std of the 2-D toy mixtures."""
  if name == "mog_ring":
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([2 * np.cos(angles), 2 * np.sin(angles)], 1).astype(np.float32), 0.02
  if name == "mog_grid":
    g = np.array([-4, -2, 0, 2, 4], np.float32)
    return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), 0.05
  raise ValueError(name)


def sample_mog(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """n points of a mixture (uniform over modes) and their mode index."""
  centers, std = mog_centers(name)
  rng = np.random.default_rng(seed)
  modes = rng.integers(0, len(centers), n)
  pts = centers[modes] + std * rng.standard_normal((n, 2)).astype(np.float32)
  return pts.astype(np.float32), modes.astype(np.int32)


def load_mog(name: str, num_train: int = 100_000) -> Dataset:
  centers, std = mog_centers(name)
  tx, ty = sample_mog(name, num_train, seed=1234)
  vx, vy = sample_mog(name, num_train // 10, seed=4321)
  # Mode labels are kept for evaluation, but a mixture has no classes to condition on.
  return Dataset(name, tx, None, vx, None, 0, mode_centers=centers, mode_std=std)


def load_dataset(data_config) -> Dataset:
  """Loads the dataset named by ``config.data`` (name, path, image_size, tfds_data_dir);
  with ``data.loader`` 'grain' (or 'auto' for a large one), what grain_loader streams."""
  from gan_jax.data import grain_loader  # it builds on this module's Dataset and TFDS readers

  name = data_config.name
  path = data_config.get("path", "") or ""
  if grain_loader.is_array_record(path):
    return grain_loader.load_array_record(data_config)
  # apt-get install dataset-fashion-mnist; a TFDS data_dir or the grain loader asks for TFDS.
  if (name == "fashion_mnist" and not path and not data_config.get("tfds_data_dir")
      and data_config.get("loader", "auto") != "grain"
      and idx.has_idx_dir(idx.DEBIAN_FASHION_MNIST)):
    return idx.load_idx_dir(idx.DEBIAN_FASHION_MNIST, name)
  if not path and name not in BUILTIN_DATASETS and (
      grain_loader.resolve_loader(data_config) == "grain"):
    return grain_loader.load_tfds_reference(data_config)
  if path:
    return load_npz(path, name=name if name != "mnist" else "npz")
  if name == "mnist":
    return load_npz(embedded_mnist_path(), name="mnist")
  if name == "digits":
    return load_digits(data_config.get("image_size", 28) or 28)
  if name in ("mog_ring", "mog_grid"):
    return load_mog(name)
  if name == "npz":
    raise ConfigError("data.name='npz' needs data.path pointing to a Keras-layout .npz file")
  return tfds_source.load(name, data_config)  # TFDS is the seam for every other dataset name
