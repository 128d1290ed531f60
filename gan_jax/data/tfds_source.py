"""Any TFDS image dataset (fashion_mnist, cifar10, ...) as an in-memory ``Dataset``.

Examples are read with ``tfds.data_source``: random access to ArrayRecord files, no TensorFlow.
Only a dataset prepared in the TFRECORD format falls back to ``tfds.load``, and only when
TensorFlow is importable. Nothing is downloaded: a dataset that is not prepared in
``data.tfds_data_dir`` is a ConfigError that says how to prepare it.

Sharding across hosts: process ``p`` of ``P`` reads only the examples ``[p*m, (p+1)*m)`` of the
training split, ``m = n // P`` (TFDS splits are shuffled when they are prepared, so each range is
a random subset), and returns a Dataset whose ``process_shard`` is ``(p, P)``.
``sampler.make_batch_fn`` then draws each process's part of a global batch from its own shard with
the same (seed, step) permutation rule as for in-memory datasets, so a resumed run reads the same
batches as an uninterrupted one. With one process the shard is the whole split and the batches are
those of any other dataset. The test split (for evaluation) is read whole by every process.
"""

from __future__ import annotations

import contextlib
import importlib.util

import numpy as np

from gan_jax.data.dataset import BUILTIN_DATASETS, Dataset, to_unit_range
from gan_jax.errors import ConfigError

TEST_SPLIT = "test"


def shard_range(num_examples: int, process_index: int, process_count: int) -> tuple[int, int]:
  """The examples ``[lo, hi)`` that ``process_index`` reads: equal, disjoint ranges."""
  per_process = num_examples // process_count
  return process_index * per_process, (process_index + 1) * per_process


def _how_to_prepare(name: str, data_dir: str) -> str:
  where = data_dir or "~/tensorflow_datasets"
  return (f"prepare it on a machine with network access with `tfds build {name} "
          f"--file_format=array_record --data_dir={where}` and pass "
          f"--config.data.tfds_data_dir={where}, or set --config.data.path to a Keras-layout "
          ".npz (x_train, y_train, x_test, y_test)")


def _has_tensorflow() -> bool:
  return importlib.util.find_spec("tensorflow") is not None


def _num_classes(name: str, features) -> int:
  """Checks that the dataset has fixed-size images; the ``label`` class count (0 if none)."""
  import tensorflow_datasets as tfds

  image = features["image"] if "image" in features else None
  if not isinstance(image, tfds.features.Image):
    raise ConfigError(f"data.name={name!r} is a TFDS dataset without an 'image' feature; "
                      "only image datasets can be trained on")
  if None in image.shape:
    raise ConfigError(f"data.name={name!r} has images of varying size {image.shape}; only "
                      "datasets with a fixed image size are supported")
  label = features["label"] if "label" in features else None
  return label.num_classes if isinstance(label, tfds.features.ClassLabel) else 0


def _read(source, lo: int, hi: int, num_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
  """Examples ``[lo, hi)`` of a data source as uint8 images and int32 labels."""
  examples = [source[i] for i in range(lo, hi)]
  shape = tuple(source.dataset_info.features["image"].shape)
  images = np.zeros((0,) + shape, np.uint8)
  if examples:
    images = np.stack([np.asarray(ex["image"], np.uint8) for ex in examples])
  labels = np.asarray([ex["label"] for ex in examples], np.int32) if num_classes else None
  return images, labels


def _open_source(name: str, split: str, data_dir: str):
  """``tfds.data_source`` of one split; None where the files are not random-access."""
  import tensorflow_datasets as tfds

  try:
    return tfds.data_source(name, split=split, data_dir=data_dir or None, download=False)
  except NotImplementedError:  # not prepared, or prepared as TFRECORD
    return None


def _load_with_tensorflow(name: str, split: str, data_dir: str, lo: int, hi: int | None):
  """Examples ``split[lo:hi]`` through ``tfds.load`` (needs TensorFlow)."""
  import tensorflow_datasets as tfds

  end = "" if hi is None else hi
  arrays = tfds.as_numpy(tfds.load(name, split=f"{split}[{lo}:{end}]", data_dir=data_dir or None,
                                   download=False, batch_size=-1))
  return arrays["image"].astype(np.uint8), arrays.get("label")


@contextlib.contextmanager
def quiet_tfds_logging():
  """TFDS logs on absl about every folder it probes; the errors gan_jax raises say what matters."""
  from absl import logging

  verbosity = logging.get_verbosity()
  logging.set_verbosity(min(verbosity, logging.ERROR))  # absl: lower is quieter
  try:
    yield
  finally:
    logging.set_verbosity(verbosity)


def load(name: str, data_config, *, process_index: int | None = None,
         process_count: int | None = None) -> Dataset:
  """This process's shard of split ``data_config.tfds_split``, and the whole test split."""
  with quiet_tfds_logging():
    return _load(name, data_config, process_index=process_index, process_count=process_count)


def _load(name: str, data_config, *, process_index: int | None,
          process_count: int | None) -> Dataset:
  import jax
  import tensorflow_datasets as tfds

  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  data_dir = data_config.get("tfds_data_dir", "") or ""
  split = data_config.get("tfds_split", "train") or "train"
  try:
    builder = tfds.builder(name, data_dir=data_dir or None)
  except tfds.core.registered.DatasetNotFoundError:
    raise ConfigError(
        f"data.name={name!r} is neither a built-in dataset ({', '.join(BUILTIN_DATASETS)}) "
        "nor a TFDS dataset (https://www.tensorflow.org/datasets/catalog)") from None
  num_classes = _num_classes(name, builder.info.features)
  known_splits = list(builder.info.splits)  # empty until the dataset is prepared
  if known_splits and split.split("[")[0] not in known_splits:
    raise ConfigError(f"data.tfds_split={split!r} is not a split of {name!r}; valid: "
                      f"{', '.join(known_splits)}")
  not_prepared = (f"TFDS dataset {name!r} is not prepared in {builder.data_dir}; "
                  + _how_to_prepare(name, data_dir))
  try:
    source = _open_source(name, split, data_dir)
  except Exception:  # noqa: BLE001 - missing or unreadable files: the same advice
    raise ConfigError(not_prepared) from None
  if source is None and not builder.is_prepared():
    raise ConfigError(not_prepared)
  if source is None and not _has_tensorflow():
    raise ConfigError(
        f"TFDS dataset {name!r} in {builder.data_dir} is stored as TFRECORD, which needs "
        "TensorFlow (pip install tensorflow) or a rebuild: " + _how_to_prepare(name, data_dir))
  with_test = split != TEST_SPLIT and (TEST_SPLIT in known_splits or not known_splits)
  if source is not None:
    lo, hi = shard_range(len(source), process_index, process_count)
    train_x, train_y = _read(source, lo, hi, num_classes)
    test_x, test_y = train_x[:0], None if train_y is None else train_y[:0]
    test_source = _open_source(name, TEST_SPLIT, data_dir) if with_test else None
    if test_source is not None:
      test_x, test_y = _read(test_source, 0, len(test_source), num_classes)
  else:
    lo, hi = shard_range(builder.info.splits[split].num_examples, process_index, process_count)
    train_x, train_y = _load_with_tensorflow(name, split, data_dir, lo, hi)
    test_x, test_y = train_x[:0], None if train_y is None else train_y[:0]
    if with_test:
      test_x, test_y = _load_with_tensorflow(name, TEST_SPLIT, data_dir, 0, None)
  if len(train_x) == 0:
    raise ConfigError(f"TFDS dataset {name!r} split {split!r} holds no examples for process "
                      f"{process_index} of {process_count}")
  return Dataset(
      name=name,
      train_x=to_unit_range(train_x),
      train_y=None if train_y is None else np.asarray(train_y, np.int32),
      test_x=to_unit_range(test_x),
      test_y=None if test_y is None else np.asarray(test_y, np.int32),
      num_classes=num_classes if train_y is not None else 0,
      process_shard=(process_index, process_count))
