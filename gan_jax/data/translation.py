"""Image-to-image translation data: domain A (the input) and domain B (the target), each with a
held-out test split, as float32 NHWC in [-1, 1] held in host memory.

Named datasets (``data.name``), all offline and deterministic:

- ``mnist_sr`` (paired): 4x super-resolution. A = the embedded MNIST averaged over 4x4 blocks,
  (N, 7, 7, 1); B = the 28x28 digit. MNIST's own train/test split (60000/10000).
- ``mnist_edges`` (paired): sketch -> digit. A = the digit's outline (``edge_map``: the 3x3
  external morphological gradient dilate(u) - u of u = (x + 1)/2, thresholded at 0.5, as -1/+1:
  a one-pixel contour traced just outside the stroke, hollow even where the stroke is thin),
  (N, 28, 28, 1); B = the digit. MNIST's train/test split.
- ``digits2mnist`` (unpaired): A = scikit-learn's digits as ``data.name='digits'`` loads them
  (bilinearly resized to 28x28, its fixed 80/20 split: 1437 train, 360 test); B = MNIST. No
  pairing; the labels are kept for evaluation only.

User data (``data.path``, which then overrides ``data.name``):

- an ``.npz`` with arrays ``a`` and ``b`` (uint8 [0, 255], or float in [-1, 1]; (N, H, W) or
  (N, H, W, C)), optionally ``a_test`` and ``b_test`` (both or neither);
- a directory in pytorch-CycleGAN-and-pix2pix's unaligned layout: ``trainA/ trainB/`` (and
  optionally ``testA/ testB/``) of PNG/JPEG images, one size per folder, read with PIL (greyscale
  when every image of a domain is, else RGB); files are ordered by name.

Pairing of user data: A and B with the same number of training examples (and of test examples)
are paired row by row (file-name order for folders) unless ``data.paired=False``; different
lengths are always unpaired. Without a test split, round(``data.test_fraction`` · N) examples
(at least one) are held out by ``np.random.default_rng(data.split_seed)``: one permutation for
both domains of paired data, one per domain otherwise. The evaluation's baseline for user data is
the input itself where A and B have one height and width, else its bicubic up-sampling.

``make_batch_fn`` gives batches as a pure function of (seed, step): paired data read one index set
for both domains, unpaired data an independent epoch-wise permutation per domain (``sampler``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np

from gan_jax.data import sources
from gan_jax.data.dataset import Dataset, to_unit_range
from gan_jax.data.sampler import BatchSampler
from gan_jax.errors import ConfigError

NAMES = ("mnist_sr", "mnist_edges", "digits2mnist")
BASELINES = ("bicubic", "input")
SR_FACTOR = 4  # mnist_sr's block size: 28x28 -> 7x7.
EDGE_THRESHOLD = 0.5  # mnist_edges: a pixel is an edge where dilate(u) - u >= this, u in [0, 1].
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FOLDERS = ("trainA", "trainB", "testA", "testB")
B_STREAM = 0xB  # The sampler stream of domain B's permutations for unpaired data.
SPLITS = ("train_a", "train_b", "test_a", "test_b")


@dataclasses.dataclass(frozen=True)
class TranslationData:
  """Two image domains: A (input) and B (target), each split into train and test.

  ``paired``: row i of train_a pairs with row i of train_b (and likewise for test). ``labels``
  (evaluation only, never used in training) maps some of ``SPLITS`` to int arrays. ``baseline``:
  the untrained translation the evaluation scores beside the model's ('bicubic' up-sampling of
  the input, or the 'input' itself).
  """

  name: str
  paired: bool
  train_a: np.ndarray
  train_b: np.ndarray
  test_a: np.ndarray
  test_b: np.ndarray
  labels: dict
  baseline: str

  @property
  def shape_a(self) -> tuple[int, ...]:
    return tuple(self.train_a.shape[1:])

  @property
  def shape_b(self) -> tuple[int, ...]:
    return tuple(self.train_b.shape[1:])

  @property
  def num_train_a(self) -> int:
    return len(self.train_a)

  @property
  def num_train_b(self) -> int:
    return len(self.train_b)

  @property
  def is_image(self) -> bool:
    return True


# ---- Operators --------------------------------------------------------------------------------


def block_mean(x: np.ndarray, factor: int = SR_FACTOR) -> np.ndarray:
  """Mean over non-overlapping factor x factor blocks: (N, H, W, C) -> (N, H/f, W/f, C)."""
  n, h, w, c = x.shape
  return x.reshape(n, h // factor, factor, w // factor, factor, c).mean((2, 4), dtype=np.float32)


def _window_reduce(u: np.ndarray, reduce) -> np.ndarray:
  """reduce over each pixel's 3x3 neighbourhood of (N, H, W, C), edges padded by replication."""
  padded = np.pad(u, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
  h, w = u.shape[1:3]
  shifts = [padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)]
  return reduce(np.stack(shifts), axis=0)


def edge_map(x: np.ndarray, threshold: float = EDGE_THRESHOLD) -> np.ndarray:
  """The thresholded 3x3 external morphological gradient of images in [-1, 1], as -1 / +1.

  With u = (x + 1)/2 in [0, 1]: edge = [max_3x3(u) - u >= threshold]: the pixels just outside a
  stroke's boundary (8-neighbourhood), a hollow outline of the digit. (The full gradient
  max - min, or a thresholded Sobel magnitude, fills MNIST's 2-3 px strokes solid.)
  """
  u = (x + 1.0) / 2.0
  gradient = _window_reduce(u, np.max) - u
  return np.where(gradient >= threshold, 1.0, -1.0).astype(np.float32)


# ---- Named datasets ---------------------------------------------------------------------------


def _mnist() -> Dataset:
  return sources.load_npz(sources.embedded_mnist_path(), name="mnist")


def _labels(a_train, b_train, a_test, b_test) -> dict:
  return {"train_a": a_train, "train_b": b_train, "test_a": a_test, "test_b": b_test}


def load_mnist_sr() -> TranslationData:
  m = _mnist()
  return TranslationData(
      "mnist_sr", True, block_mean(m.train_x), m.train_x, block_mean(m.test_x), m.test_x,
      _labels(m.train_y, m.train_y, m.test_y, m.test_y), "bicubic")


def load_mnist_edges() -> TranslationData:
  m = _mnist()
  return TranslationData(
      "mnist_edges", True, edge_map(m.train_x), m.train_x, edge_map(m.test_x), m.test_x,
      _labels(m.train_y, m.train_y, m.test_y, m.test_y), "input")


def load_digits2mnist(image_size: int = 28) -> TranslationData:
  d, m = sources.load_digits(image_size), _mnist()
  return TranslationData(
      "digits2mnist", False, d.train_x, m.train_x, d.test_x, m.test_x,
      _labels(d.train_y, m.train_y, d.test_y, m.test_y), "input")


# ---- User data --------------------------------------------------------------------------------


def _as_images(x: np.ndarray, where: str) -> np.ndarray:
  """uint8 [0, 255] or float in [-1, 1], (N, H, W) or (N, H, W, C) -> float32 NHWC in [-1, 1]."""
  if x.ndim not in (3, 4) or len(x) == 0:
    raise ConfigError(f"{where} must be a non-empty (N, H, W) or (N, H, W, C) image array, "
                      f"got shape {x.shape}")
  if x.dtype == np.uint8:
    return to_unit_range(x)
  if not np.issubdtype(x.dtype, np.floating):
    raise ConfigError(f"{where} must be uint8 in [0, 255] or float in [-1, 1], got {x.dtype}")
  x = x.astype(np.float32)
  if not np.isfinite(x).all() or x.min() < -1.0 or x.max() > 1.0:
    raise ConfigError(f"{where} is float but not all finite and in [-1, 1] "
                      f"(min {np.nanmin(x):.3g}, max {np.nanmax(x):.3g})")
  return x[..., None] if x.ndim == 3 else x


def _read_npz(path: str) -> dict:
  try:
    with np.load(path, allow_pickle=False) as f:
      if not hasattr(f, "files"):
        raise ValueError
      return {k: f[k] for k in f.files}
  except Exception:  # noqa: BLE001 - numpy's reasons mislead here; the file is what is wrong
    raise ConfigError(f"data.path={path!r} is not a readable .npz of arrays a, b "
                      "(optional a_test, b_test)") from None


def _pairs_of(train: tuple, test: tuple | None) -> bool:
  """Whether A and B have equal lengths in train (and test, when given)."""
  same = len(train[0]) == len(train[1])
  return same and (test is None or len(test[0]) == len(test[1]))


def _check_test_shapes(train: tuple, test: tuple, where: str) -> None:
  for side, tr, te in zip("ab", train, test, strict=True):
    if tr.shape[1:] != te.shape[1:]:
      raise ConfigError(f"{where}: the test images of domain {side.upper()} have shape "
                        f"{te.shape[1:]}, the training images {tr.shape[1:]}")


def _hold_out(train: tuple, paired: bool, fraction: float, seed: int, where: str):
  """(train, test) with ``fraction`` of each domain's examples (at least 1) held out."""
  if not 0.0 < fraction < 1.0:
    raise ConfigError(f"data.test_fraction={fraction!r} must be in (0, 1) to hold out a test "
                      f"split of {where}")
  out_train, out_test = [], []
  perm = None
  for i, x in enumerate(train):
    if len(x) < 2:
      raise ConfigError(f"{where}: domain {'AB'[i]} has {len(x)} example(s); holding out a test "
                        "split needs at least 2 (or give the test split)")
    if perm is None or not paired:
      key = [seed] if paired else [seed, i]
      perm = np.random.default_rng(key).permutation(len(x))
    cut = max(1, int(round(fraction * len(x))))
    out_test.append(x[np.sort(perm[:cut])])
    out_train.append(x[np.sort(perm[cut:])])
  return tuple(out_train), tuple(out_test)


def _assemble(name: str, train: tuple, test: tuple | None, data_config, where: str):
  paired = bool(data_config.get("paired", True)) and _pairs_of(train, test)
  if test is None:
    train, test = _hold_out(train, paired, float(data_config.get("test_fraction", 0.1)),
                            int(data_config.get("split_seed", 0)), where)
  else:
    _check_test_shapes(train, test, where)
  baseline = "input" if train[0].shape[1:3] == train[1].shape[1:3] else "bicubic"
  return TranslationData(name, paired, train[0], train[1], test[0], test[1], {}, baseline)


def load_npz(path: str, data_config) -> TranslationData:
  """An .npz of ``a`` and ``b`` (optional ``a_test``, ``b_test``)."""
  arrays = _read_npz(path)
  missing = [k for k in ("a", "b") if k not in arrays]
  if missing:
    raise ConfigError(f"data.path={path!r} lacks array(s) {missing}; expected a, b "
                      f"(optional a_test, b_test), found {sorted(arrays)}")
  if ("a_test" in arrays) != ("b_test" in arrays):
    raise ConfigError(f"data.path={path!r} has only one of a_test, b_test; give both or neither")
  train = tuple(_as_images(arrays[k], f"data.path={path!r}: {k}") for k in ("a", "b"))
  test = None
  if "a_test" in arrays:
    test = tuple(_as_images(arrays[k], f"data.path={path!r}: {k}") for k in ("a_test", "b_test"))
  name = os.path.splitext(os.path.basename(path))[0]
  return _assemble(name, train, test, data_config, f"data.path={path!r}")


def _image_files(folder: str) -> list[str]:
  return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES)
                and os.path.isfile(os.path.join(folder, f)))


def load_folder_images(folder: str, where: str) -> np.ndarray:
  """Every PNG/JPEG in ``folder`` (name order) as float32 NHWC in [-1, 1]: greyscale when all
  are, else RGB (alpha dropped). One size per folder."""
  from PIL import Image

  files = _image_files(folder)
  if not files:
    raise ConfigError(f"{where}: {folder!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
  images = []
  for f in files:
    try:
      with Image.open(os.path.join(folder, f)) as im:
        im.load()
        images.append(im.copy())
    except Exception:  # noqa: BLE001 - PIL's many error types all mean one thing here
      raise ConfigError(f"{where}: {os.path.join(folder, f)!r} is not a readable image") from None
  sizes = {im.size for im in images}
  if len(sizes) > 1:
    first = images[0].size
    other = next(i for i, im in enumerate(images) if im.size != first)
    raise ConfigError(f"{where}: {folder!r} mixes image sizes ({files[0]} is {first[0]}x"
                      f"{first[1]}, {files[other]} is {images[other].size[0]}x"
                      f"{images[other].size[1]}); resize them to one size")
  grey = all(im.mode in ("1", "L", "LA") for im in images)
  arr = np.stack([np.asarray(im.convert("L" if grey else "RGB"), np.uint8) for im in images])
  return to_unit_range(arr)


def load_folders(path: str, data_config) -> TranslationData:
  """pytorch-CycleGAN-and-pix2pix's trainA/ trainB/ (testA/ testB/) image folders."""
  where = f"data.path={path!r}"
  present = {f: os.path.isdir(os.path.join(path, f)) for f in FOLDERS}
  missing = [f for f in ("trainA", "trainB") if not present[f]]
  if missing:
    raise ConfigError(f"{where} lacks folder(s) {', '.join(missing)}; expected trainA/ trainB/ "
                      "(optional testA/ testB/) of PNG/JPEG images")
  if present["testA"] != present["testB"]:
    raise ConfigError(f"{where} has only one of testA/, testB/; give both or neither")
  load = lambda f: load_folder_images(os.path.join(path, f), where)
  train = (load("trainA"), load("trainB"))
  test = (load("testA"), load("testB")) if present["testA"] else None
  name = os.path.basename(os.path.normpath(path))
  return _assemble(name, train, test, data_config, where)


def load(data_config) -> TranslationData:
  """The translation data ``config.data`` names: ``data.path`` (an .npz or a trainA/ trainB/
  folder) when set, else ``data.name`` in NAMES."""
  path = data_config.get("path", "") or ""
  if path:
    if os.path.isdir(path):
      return load_folders(path, data_config)
    if os.path.isfile(path):
      return load_npz(path, data_config)
    raise ConfigError(f"data.path={path!r} does not exist; valid: an .npz of a, b or a folder "
                      "with trainA/ trainB/")
  name = data_config.name
  if name == "mnist_sr":
    return load_mnist_sr()
  if name == "mnist_edges":
    return load_mnist_edges()
  if name == "digits2mnist":
    return load_digits2mnist(data_config.get("image_size", 28) or 28)
  raise ConfigError(f"data.name={name!r} is not translation data; valid: {', '.join(NAMES)}, or "
                    "data.path to an .npz of a, b or a folder with trainA/ trainB/")


def domain_dataset(data: TranslationData, side: str = "b") -> Dataset:
  """Domain ``side`` ('a' or 'b') as a ``Dataset`` (with its labels where known): what the
  feature classifier and the real-vs-real fcd floor read. MNIST's domain is the embedded MNIST
  exactly, so ``classifier.get_classifier`` finds the shipped classifier for it."""
  train_y, test_y = data.labels.get(f"train_{side}"), data.labels.get(f"test_{side}")
  labelled = train_y is not None and test_y is not None
  num_classes = int(max(train_y.max(), test_y.max()) + 1) if labelled else 0
  train_x, test_x = (data.train_a, data.test_a) if side == "a" else (data.train_b, data.test_b)
  name = "mnist" if side == "b" and data.name in NAMES else f"{data.name}_{side}"
  return Dataset(name, train_x, train_y if labelled else None, test_x,
                 test_y if labelled else None, num_classes)


# ---- Batches ----------------------------------------------------------------------------------


def make_batch_fn(data: TranslationData, *, batch_size: int, seed: int, process_index: int = 0,
                  process_count: int = 1) -> Callable[[int], dict]:
  """Returns ``batch(step)``: this process's slice {"a": (local, ...), "b": (local, ...)} of the
  global batch of train step ``step``, a pure function of (seed, step).

  Paired data read one epoch-wise permutation for both domains (rows stay paired); unpaired data
  read one per domain (A's from [seed, epoch], B's from [seed, B_STREAM, epoch]).
  """
  if batch_size % process_count:
    raise ConfigError(f"train.batch_size={batch_size} must divide by the {process_count} "
                      "processes")
  local = batch_size // process_count
  lo, hi = process_index * local, (process_index + 1) * local
  sampler_a = BatchSampler(data.num_train_a, batch_size, seed)
  sampler_b = sampler_a if data.paired else BatchSampler(data.num_train_b, batch_size, seed,
                                                         stream=B_STREAM)

  def batch(step: int) -> dict:
    idx_a = sampler_a.indices(step)
    idx_b = idx_a if data.paired else sampler_b.indices(step)
    return {"a": data.train_a[idx_a[lo:hi]], "b": data.train_b[idx_b[lo:hi]]}

  return batch
