"""Training batches streamed through grain, for TFDS and array_record datasets too large to hold.

``data.loader`` picks the input pipeline: 'memory' (``data.sources``: the whole training split as
float32 in host memory) or 'grain' (this module); 'auto' streams a TFDS split or array_record
file(s) whose images take more than ``AUTO_GRAIN_BYTES`` as float32, and holds everything else
(the embedded MNIST, digits, the 2-D mixtures, npz files, small TFDS and array_record sets).

The pipeline of process ``p`` of ``P`` (grain's ``MapDataset`` API):

  range(lo, hi) -> shuffle (a new permutation every epoch) -> repeat -> batches of
  local * n_critic indices -> read (one source.__getitems__), decode, to [-1, 1], flip,
  (local, n_critic, ...) -> iterator (worker processes)

``[lo, hi)`` is the process's equal, disjoint range of the split (``tfds_source.shard_range``), so
the global batch is split per process as for in-memory datasets, then per device by the trainer.
Shuffle and flips are seeded by ``(seed, p)``: batch ``s`` of a process is a pure function of the
seed, the process and ``s``, whatever the number of workers. The flip mirrors an image left-right
with probability 1/2, drawn from grain's generator for the batch's index.

The grain iterator's state after each step's batch goes into that step's checkpoint (Orbax item
``DATA_ITEM``, one JSON file per process, written by ``grain.checkpoint.CheckpointSave``), and a
resumed run restores it, so the batches after a resume are those an uninterrupted run reads. Runs
on the memory path write checkpoints without the item, as before.

Records of an ``.array_record`` file (``data.path``; a glob for several shards) are msgpack dicts
``{'image': the uint8 pixels' bytes, 'shape': [H, W] or [H, W, C], 'label': int}`` (``label``
optional), as ``write_array_record`` writes them. TFDS datasets are read with
``tfds.data_source`` (ArrayRecord random access, no TensorFlow).

The run's ``data.Dataset`` then holds only a reference subset in memory: the first
``data.grain_reference_examples`` of the training split (for sample diversity and evaluation)
and the whole test split; ``Dataset.stream`` describes what is streamed.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os

import numpy as np

from gan_jax.data.dataset import BUILTIN_DATASETS, Dataset, to_unit_range
from gan_jax.errors import ConfigError

LOADERS = ("auto", "memory", "grain")
# 'auto' streams a training split whose images exceed this many bytes as float32 (CIFAR-10's
# 50k x 32x32x3 is 0.6 GiB and stays in memory; ImageNet 64x64 is 63 GiB and streams).
AUTO_GRAIN_BYTES = 2 * 2**30
DATA_ITEM = "data_iterator"  # the checkpoint item of the iterator state
ARRAY_RECORD_SUFFIX = ".array_record"


def is_array_record(path: str) -> bool:
  return bool(path) and path.endswith(ARRAY_RECORD_SUFFIX)


def array_record_paths(path: str) -> list[str]:
  """The files ``data.path`` names: one file or a glob, in sorted order."""
  paths = sorted(glob.glob(path))
  if not paths or not all(os.path.isfile(p) for p in paths):
    raise ConfigError(f"data.path={path!r} matches no {ARRAY_RECORD_SUFFIX} file")
  return paths


def validate_config(data_config) -> None:
  """Raises ConfigError for a bad ``data.loader`` or grain field."""
  loader = data_config.get("loader", "auto")
  if loader not in LOADERS:
    raise ConfigError(f"data.loader={loader!r} is unknown; valid: {', '.join(LOADERS)}")
  for field, least in (("grain_workers", 0), ("grain_worker_buffer_size", 1),
                       ("grain_reference_examples", 0)):
    value = data_config.get(field, least)
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
      raise ConfigError(f"data.{field}={value!r} must be an integer >= {least}")
  path = data_config.get("path", "") or ""
  if loader == "grain" and (path and not is_array_record(path) or (
      not path and data_config.name in BUILTIN_DATASETS)):
    what = f"data.path={path!r}" if path else f"data.name={data_config.name!r}"
    raise ConfigError(f"data.loader='grain' cannot stream {what}; valid: a TFDS dataset name or "
                      f"a data.path to {ARRAY_RECORD_SUFFIX} file(s), else data.loader='memory'")


# ---- Sources ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Stream:
  """A training split read record by record: a TFDS split or array_record files."""

  num_examples: int
  tfds_name: str = ""
  tfds_split: str = ""
  tfds_data_dir: str = ""
  paths: tuple[str, ...] = ()

  def open(self):
    """The random-access source (picklable, so grain's workers can open it too)."""
    if self.paths:
      import grain

      return grain.sources.ArrayRecordDataSource(list(self.paths))
    import tensorflow_datasets as tfds

    return tfds.data_source(self.tfds_name, split=self.tfds_split,
                            data_dir=self.tfds_data_dir or None, download=False)


def decode(record) -> dict:
  """A source's record as ``{'image': uint8 (H, W, C), 'label': int32}`` (label if present)."""
  if isinstance(record, bytes):
    import msgpack

    fields = msgpack.unpackb(record)
    record = {**fields, "image": np.frombuffer(fields["image"], np.uint8).reshape(fields["shape"])}
  image = np.asarray(record["image"], np.uint8)
  out = {"image": image[..., None] if image.ndim == 2 else image}
  if "label" in record:
    out["label"] = np.int32(record["label"])
  return out


def encode(image: np.ndarray, label: int | None = None) -> bytes:
  """The record ``decode`` reads: msgpack ``{'image': raw bytes, 'shape': [...], 'label': int}``."""
  import msgpack

  image = np.ascontiguousarray(image, np.uint8)
  record = {"image": image.tobytes(), "shape": list(image.shape)}
  if label is not None:
    record["label"] = int(label)
  return msgpack.packb(record)


def write_array_record(path: str, images: np.ndarray, labels: np.ndarray | None = None) -> None:
  """Writes uint8 images (N, H, W[, C]) and optional labels as records ``decode`` reads."""
  from array_record.python import array_record_module

  writer = array_record_module.ArrayRecordWriter(path, "group_size:1")
  try:
    for i, image in enumerate(images):
      writer.write(encode(image, None if labels is None else labels[i]))
  finally:
    writer.close()


def _read(source, num: int) -> tuple[np.ndarray, np.ndarray | None]:
  """The first ``num`` records of a source as uint8 images and int32 labels (None if none)."""
  examples = [decode(source[i]) for i in range(min(num, len(source)))]
  images = np.stack([ex["image"] for ex in examples])
  labels = np.asarray([ex["label"] for ex in examples], np.int32) if (
      "label" in examples[0]) else None
  return images, labels


def _dataset(name, train, test, stream: Stream | None) -> Dataset:
  (train_x, train_y), (test_x, test_y) = train, test
  num_classes = int(train_y.max()) + 1 if train_y is not None and len(train_y) else 0
  return Dataset(
      name=name, train_x=to_unit_range(train_x), train_y=train_y,
      test_x=to_unit_range(test_x), test_y=test_y, num_classes=num_classes, stream=stream)


def load_array_record(data_config) -> Dataset:
  """An array_record dataset: whole in memory, or (``stream=True``) a reference subset."""
  paths = array_record_paths(data_config.path)
  stream = Stream(num_examples=0, paths=tuple(paths))
  source = stream.open()
  if len(source) == 0:
    raise ConfigError(f"data.path={data_config.path!r} holds no records")
  streamed = resolve_loader(data_config) == "grain"
  train = _read(source, data_config.get("grain_reference_examples", 10_000) if streamed
                else len(source))
  empty = (train[0][:0], None if train[1] is None else train[1][:0])
  stream = dataclasses.replace(stream, num_examples=len(source)) if streamed else None
  name = data_config.name if data_config.name != "mnist" else "array_record"
  return _dataset(name, train, empty, stream)


def load_tfds_reference(data_config) -> Dataset:
  """A TFDS dataset to stream: the first reference examples of the split, the whole test split."""
  import tensorflow_datasets as tfds

  from gan_jax.data import tfds_source as tfds_data

  name, data_dir = data_config.name, data_config.get("tfds_data_dir", "") or ""
  split = data_config.get("tfds_split", "train") or "train"
  features = tfds.builder(name, data_dir=data_dir or None).info.features
  num_classes = tfds_data._num_classes(name, features)
  try:
    source = tfds_data._open_source(name, split, data_dir)
  except Exception:  # noqa: BLE001 - tfds_data.load says how to prepare it
    source = None
  if source is None:
    raise ConfigError(f"data.loader='grain' needs TFDS dataset {name!r} prepared as "
                      "array_record: " + tfds_data._how_to_prepare(name, data_dir))
  reference = data_config.get("grain_reference_examples", 10_000)
  train = tfds_data._read(source, 0, min(reference, len(source)), num_classes)
  test = train[0][:0], None if train[1] is None else train[1][:0]
  if split != tfds_data.TEST_SPLIT:
    test_source = tfds_data._open_source(name, tfds_data.TEST_SPLIT, data_dir)
    if test_source is not None:
      test = tfds_data._read(test_source, 0, len(test_source), num_classes)
  stream = Stream(num_examples=len(source), tfds_name=name, tfds_split=split,
                  tfds_data_dir=data_dir)
  dataset = _dataset(name, train, test, stream)
  return dataclasses.replace(dataset, num_classes=num_classes if train[1] is not None else 0)


def resolve_loader(data_config) -> str:
  """'memory' or 'grain': ``data.loader``, with 'auto' decided by the split's float32 size."""
  loader = data_config.get("loader", "auto")
  if loader != "auto":
    return loader
  path = data_config.get("path", "") or ""
  if is_array_record(path):
    source = Stream(0, paths=tuple(array_record_paths(path))).open()
    if len(source) == 0:
      return "memory"
    decoded_bytes = len(source) * decode(source[0])["image"].size * 4
  elif path or data_config.name in BUILTIN_DATASETS:
    return "memory"
  else:
    decoded_bytes = _tfds_float32_bytes(data_config)
  return "grain" if decoded_bytes > AUTO_GRAIN_BYTES else "memory"


def _tfds_float32_bytes(data_config) -> int:
  """The training split's images as float32, in bytes (0 where TFDS does not know them)."""
  import tensorflow_datasets as tfds

  from gan_jax.data import tfds_source as tfds_data

  data_dir = data_config.get("tfds_data_dir", "") or ""
  split = data_config.get("tfds_split", "train") or "train"
  try:
    with tfds_data.quiet_tfds_logging():
      info = tfds.builder(data_config.name, data_dir=data_dir or None).info
      if split.split("[")[0] in list(info.splits):
        num = info.splits[split.split("[")[0]].num_examples
      else:  # info without splits (e.g. tfds.testing.mock_data): the source's length
        num = len(tfds_data._open_source(data_config.name, split, data_dir))
      shape = info.features["image"].shape
  except Exception:  # noqa: BLE001 - unknown, unprepared: the memory path reports it
    return 0
  return 0 if None in shape else int(num * np.prod(shape) * 4)


# ---- The pipeline ----------------------------------------------------------------------------


_OPEN_SOURCES: dict = {}  # Stream -> its source, opened once per process (trainer or worker)


def _source(stream: Stream):
  if stream not in _OPEN_SOURCES:
    _OPEN_SOURCES[stream] = stream.open()
  return _OPEN_SOURCES[stream]


@dataclasses.dataclass(frozen=True)
class ReadBatch:
  """A list of ``local * n_critic`` record indices as the trainer's batch: the records read in
  one ``__getitems__`` call (array_record reads one at a time 10x slower), float32 images in
  [-1, 1] (uint8 / 127.5 - 1), each mirrored left-right with probability 1/2 under
  ``random_flip``, leaves (local, n_critic, ...) and labels if ``with_labels``."""

  stream: Stream
  local: int
  n_critic: int
  with_labels: bool
  random_flip: bool

  def __call__(self, indices: list, rng: np.random.Generator) -> dict:
    source, indices = _source(self.stream), [int(i) for i in indices]
    # TFDS sources are read per index (tfds.testing.mock_data breaks their __getitems__).
    records = (source.__getitems__(indices) if self.stream.paths
               else [source[i] for i in indices])
    examples = [decode(r) for r in records]
    x = np.stack([ex["image"] for ex in examples]).astype(np.float32) / 127.5 - 1.0
    if self.random_flip:
      flip = rng.random(len(x)) < 0.5
      x[flip] = x[flip, :, ::-1]
    out = {"x": self._arrange(x)}
    if self.with_labels:
      out["y"] = self._arrange(np.asarray([ex["label"] for ex in examples], np.int32))
    return out

  def _arrange(self, x: np.ndarray) -> np.ndarray:
    """Row ``j * local + i`` (critic step j, example i) -> ``[i, j]``."""
    x = x.reshape((self.n_critic, self.local) + x.shape[1:])
    return np.ascontiguousarray(np.swapaxes(x, 0, 1))


def pipeline(stream: Stream, *, batch_size: int, n_critic: int, seed: int, with_labels: bool,
             random_flip: bool, process_index: int, process_count: int):
  """The ``grain.MapDataset`` whose element ``s`` is this process's batch of train step ``s``."""
  import grain

  from gan_jax.data import tfds_source as tfds_data

  local = batch_size // process_count
  lo, hi = tfds_data.shard_range(stream.num_examples, process_index, process_count)
  if hi - lo < local * n_critic:
    raise ConfigError(f"train.batch_size={batch_size} x train.n_critic={n_critic} exceeds the "
                      f"{hi - lo} examples of process {process_index}'s shard")
  process_seed = int(np.random.SeedSequence([seed, process_index]).generate_state(1)[0])
  return (grain.MapDataset.range(lo, hi)
          .seed(process_seed).shuffle().repeat()
          .batch(local * n_critic, drop_remainder=True, batch_fn=list)
          .random_map(ReadBatch(stream, local, n_critic, with_labels, random_flip)))


def make_iterator(dataset: Dataset, config, *, process_index: int, process_count: int):
  """A grain iterator over the run's training batches (``config.data``'s worker processes)."""
  import grain

  c, dc = config, config.data
  ds = pipeline(dataset.stream, batch_size=c.train.batch_size, n_critic=c.train.n_critic,
                seed=c.seed, with_labels=bool(c.conditional),
                random_flip=bool(dc.get("random_flip", False)),
                process_index=process_index, process_count=process_count).to_iter_dataset(
                    grain.ReadOptions(num_threads=READ_THREADS))
  workers = dc.get("grain_workers", 0)
  if workers:
    from absl import flags

    if not flags.FLAGS.is_parsed():  # grain's workers read absl flags (outside an absl app)
      flags.FLAGS.mark_as_parsed()
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=workers, per_worker_buffer_size=dc.get("grain_worker_buffer_size", 2)),
        worker_init_fn=exit_with_parent)
  return iter(ds)


PARENT_POLL_S = 1.0
READ_THREADS = 16  # grain's default: threads preparing batches ahead in each (worker) process


def exit_with_parent(worker_index: int, worker_count: int) -> None:
  """Runs in each grain worker: ends it within ``PARENT_POLL_S`` of its trainer's death (a
  SIGKILL gives the trainer no chance to stop its workers, which would live on as orphans)."""
  import threading
  import time

  del worker_index, worker_count
  parent = os.getppid()

  def watch():
    while os.getppid() == parent:
      time.sleep(PARENT_POLL_S)
    os._exit(1)

  threading.Thread(target=watch, name="gan_jax-grain-parent-watch", daemon=True).start()


def batches_with_state(iterator, num_batches: int):
  """``num_batches`` batches of ``iterator``, each with the iterator's state after it; closes the
  iterator (and its workers) however the consumer stops."""
  try:
    for _ in range(num_batches):
      batch = next(iterator)
      yield batch, IteratorState(iterator.get_state())
  finally:
    iterator.close()


@dataclasses.dataclass(frozen=True)
class IteratorState:
  """A grain iterator's state at one step, savable by ``grain.checkpoint.CheckpointSave`` (which
  writes ``get_state()``) while the iterator itself has run ahead for the prefetch."""

  state: dict

  def get_state(self) -> bytes:
    return json.dumps(self.state, indent=1).encode()


def save_args(state: IteratorState):
  import grain

  return grain.checkpoint.CheckpointSave(state)


def restore_args(iterator):
  import grain

  return grain.checkpoint.CheckpointRestore(iterator)
