"""Datasets and the deterministic input pipeline.

Every dataset is loaded fully into host memory as float32 in [-1, 1] (images, NHWC) or as raw 2-D
points. The order of examples is a pure function of (seed, step): step ``s`` of a run with
``n_critic`` critic updates reads the micro-batches ``s * n_critic + j`` of an epoch-wise
permutation drawn from ``np.random.default_rng([seed, epoch])``. Resuming at step ``s`` therefore
reads exactly the batches an uninterrupted run would have read. Random horizontal flips
(``data.random_flip``) are likewise drawn per step, from ``default_rng([seed, FLIP_STREAM, s])``.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
import queue
import threading
from collections.abc import Callable, Iterator

import numpy as np

from gan_jax.errors import ConfigError

EMBEDDED_MNIST = "assets/mnist.npz"
BUILTIN_DATASETS = ("mnist", "digits", "mog_ring", "mog_grid", "npz")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
FLIP_STREAM = 0xF11B  # Keeps the flip draws apart from the permutations' [seed, epoch].


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
  # Set when training batches stream through grain (gan_jax.grain_loader.Stream); train_x then
  # holds a reference subset of the training split, for samples' diversity and evaluation.
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


def _to_unit_range(x: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1], with a trailing channel axis for greyscale."""
  x = x.astype(np.float32) / 127.5 - 1.0
  return x[..., None] if x.ndim == 3 else x


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
      train_x=_to_unit_range(arrays["x_train"]),
      train_y=None if train_y is None else train_y.astype(np.int32),
      test_x=_to_unit_range(test_x),
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
  x = _to_unit_range(resized)
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
  from gan_jax import grain_loader

  name = data_config.name
  path = data_config.get("path", "") or ""
  if grain_loader.is_array_record(path):
    return grain_loader.load_array_record(data_config)
  if not path and name not in grain_loader.MEMORY_ONLY and (
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
  from gan_jax import tfds_data  # TFDS is the seam for every other dataset name.

  return tfds_data.load(name, data_config)


# --------------------------------------------------------------------------------------------
# Deterministic batching.


class BatchSampler:
  """Maps a global micro-step to example indices, drawing one permutation per epoch.

  Micro-step ``m`` reads ``perm_e[i*B:(i+1)*B]`` with ``e, i = divmod(m, n // B)``: every epoch
  visits each example at most once and drops the remainder.
  """

  def __init__(self, num_examples: int, batch_size: int, seed: int):
    if batch_size > num_examples:
      raise ConfigError(
          f"train.batch_size={batch_size} exceeds the dataset's {num_examples} examples")
    self.n, self.batch_size, self.seed = num_examples, batch_size, seed
    self.steps_per_epoch = num_examples // batch_size
    self._epoch, self._perm = -1, None

  def indices(self, micro_step: int) -> np.ndarray:
    epoch, i = divmod(micro_step, self.steps_per_epoch)
    if epoch != self._epoch:
      self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
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


PREFETCH_THREAD = "gan_jax-prefetch"


def prefetch(batches: Iterator, size: int = 2) -> Iterator:
  """Runs ``batches`` (host assembly and device_put) in a background thread, ``size`` ahead.

  Closing the returned generator (``contextlib.closing``; the trainer does so however its loop
  ends) stops the thread: a worker blocked on the full queue gives up within 50 ms, the source is
  closed in the worker, the thread is joined and the batches it held are dropped.
  """
  q: queue.Queue = queue.Queue(maxsize=size)
  stopping = threading.Event()
  sentinel = object()

  def put(item) -> bool:
    while not stopping.is_set():
      try:
        q.put(item, timeout=0.05)
        return True
      except queue.Full:
        continue
    return False

  def worker():
    try:
      for item in batches:
        if not put(item):
          return
      put(sentinel)
    except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
      put(e)
    finally:
      close = getattr(batches, "close", None)
      if close is not None:
        close()

  thread = threading.Thread(target=worker, name=PREFETCH_THREAD, daemon=True)
  thread.start()
  try:
    while True:
      item = q.get()
      if item is sentinel:
        return
      if isinstance(item, BaseException):
        raise item
      yield item
  finally:
    stopping.set()
    thread.join()
    with q.mutex:
      q.queue.clear()
