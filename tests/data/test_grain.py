"""The grain input pipeline: array_record files and a mocked TFDS source, batches shaped as the
memory path's, disjoint process shards, exact resume across a kill, no thread left behind, and the
config errors.

The TFDS source is ``tfds.testing.mock_data(policy=USE_CODE)``, which mocks ``tfds.data_source``
(random examples from the dataset's features), so grain reads it as it reads a prepared dataset.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import configs
from gan_jax.data import grain_loader, sampler, sources
from gan_jax.errors import ConfigError
from gan_jax.training import checkpointing
from tests.helpers import load_config
from tests.training.test_preemption import (
  _assert_same_final_state,
  _prefetch_threads,
  _start,
  _wait_for,
  cache_env,  # noqa: F401 - a fixture
)

NUM_RECORDS = 192


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> tuple[str, np.ndarray, np.ndarray]:
  """(path, images, labels) of an array_record file of MNIST digits (distinct images)."""
  with np.load(sources.embedded_mnist_path()) as f:
    images, labels = f["x_train"][:NUM_RECORDS], f["y_train"][:NUM_RECORDS]
  assert len({x.tobytes() for x in images}) == NUM_RECORDS
  path = str(tmp_path_factory.mktemp("records") / "mnist.array_record")
  grain_loader.write_array_record(path, images, labels)
  return path, images, labels


def _config(path: str, **data_fields):
  c = load_config("experiments/tiny.py")
  c.data.name, c.data.path, c.data.loader = "mnist_records", path, "grain"
  c.data.grain_workers = 0
  c.conditional = True
  c.train.eval_at_end = False
  for k, v in data_fields.items():
    c.data[k] = v
  return c


def _batches(path, num, *, process_index=0, process_count=1, **fields):
  config = _config(path, **fields)
  config.train.n_critic = 2
  dataset = sources.load_dataset(config.data)
  it = grain_loader.make_iterator(dataset, config, process_index=process_index,
                                  process_count=process_count)
  out = [next(it) for _ in range(num)]
  it.close()
  return out


def _to_uint8(x: np.ndarray) -> np.ndarray:
  return np.round((x[..., 0] + 1.0) * 127.5).astype(np.uint8)


def test_batches_are_shaped_as_the_memory_paths_scaled_and_flipped(records):
  path, images, labels = records
  config = _config(path, loader="memory")
  config.train.n_critic = 2
  memory = sampler.make_batch_fn(sources.load_dataset(config.data), batch_size=16, n_critic=2,
                                 seed=0, with_labels=True)(0)
  (batch,) = _batches(path, 1, random_flip=True)
  assert batch.keys() == memory.keys() == {"x", "y"}
  for k in batch:
    assert batch[k].shape == memory[k].shape and batch[k].dtype == memory[k].dtype, k
  assert batch["x"].shape == (16, 2, 28, 28, 1)
  assert -1.0 <= batch["x"].min() < batch["x"].max() <= 1.0
  by_image = {x.tobytes(): i for i, x in enumerate(images)}
  flipped = {x[:, ::-1].tobytes(): i for i, x in enumerate(images)}
  seen_flips = []
  for x, y in zip(_to_uint8(batch["x"]).reshape(-1, 28, 28), batch["y"].reshape(-1), strict=True):
    i = by_image.get(x.tobytes(), flipped.get(x.tobytes()))
    assert i is not None and labels[i] == y  # a record, with its own label
    seen_flips.append(x.tobytes() not in by_image)
  assert 0 < sum(seen_flips) < len(seen_flips)  # some flipped, some not


def test_process_shards_are_disjoint_and_each_process_gets_its_part_of_the_batch(records):
  path, images, _ = records
  # 2 processes, 96 records each; a global batch of 16 (8 per process) x 2 critic steps: 6 steps
  # read one epoch of each shard.
  seen = []
  for p in range(2):
    batches = _batches(path, 6, process_index=p, process_count=2)
    assert all(b["x"].shape == (8, 2, 28, 28, 1) for b in batches)
    seen.append([x.tobytes() for b in batches for x in _to_uint8(b["x"]).reshape(-1, 28, 28)])
  first, second = (set(s) for s in seen)
  assert len(first) == len(second) == NUM_RECORDS // 2  # an epoch visits each record once
  assert not first & second
  assert first | second == {x.tobytes() for x in images}


def test_the_iterator_state_resumes_the_same_batches(records):
  path, _, _ = records
  config = _config(path, random_flip=True)
  dataset = sources.load_dataset(config.data)
  it = grain_loader.make_iterator(dataset, config, process_index=0, process_count=1)
  stream = grain_loader.batches_with_state(it, 7)
  batches, states = zip(*stream, strict=True)
  again = grain_loader.make_iterator(dataset, config, process_index=0, process_count=1)
  again.set_state(states[3].state)
  for expected in batches[4:]:
    got = next(again)
    for k in expected:
      np.testing.assert_array_equal(got[k], expected[k])
  again.close()


def test_trains_on_a_mocked_tfds_source_and_checkpoints_the_iterator(tmp_path, monkeypatch):
  from gan_jax.training import loop

  # tfds' mocked source failed now and then ("Cannot spec a Mock object") when grain's 16 read
  # threads called it at once; one thread reads it reliably.
  monkeypatch.setattr(grain_loader, "READ_THREADS", 1)

  config = load_config("experiments/tiny.py")
  config.data.name, config.data.loader, config.data.grain_workers = "fashion_mnist", "grain", 0
  config.train.num_steps = 2
  config.train.log_every = config.train.sample_every = config.train.checkpoint_every = 2
  config.train.eval_at_end = False
  with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
    dataset = sources.load_dataset(config.data)
    assert dataset.stream.tfds_name == "fashion_mnist" and dataset.num_train_examples == 40
    summary = loop.train_and_evaluate(config, str(tmp_path))
  assert summary["final_step"] == 2
  step_dir = os.path.join(checkpointing.checkpoint_dir(str(tmp_path)), "2")
  assert "process_0-of-1.json" in os.listdir(os.path.join(step_dir, grain_loader.DATA_ITEM))


@pytest.mark.slow
def test_a_killed_grain_run_resumes_bitwise_equal(records, tmp_path, cache_env):  # noqa: F811
  path, _, _ = records
  args = ["gan_jax.main", "--config=experiments/tiny.py", f"--config.data.path={path}",
          "--config.data.name=mnist_records", "--config.data.loader=grain",
          "--config.data.grain_workers=1", "--config.data.random_flip=True",
          "--config.conditional=True", "--config.train.eval_at_end=False",
          "--config.train.num_steps=200", "--config.train.checkpoint_every=10",
          "--config.train.log_every=10", "--config.train.sample_every=100000"]
  killed, full = str(tmp_path / "killed"), str(tmp_path / "full")
  reference = _start([*args, f"--workdir={full}"], cache_env)
  victim = _start([*args, f"--workdir={killed}"], cache_env)
  try:
    _wait_for(os.path.join(killed, "checkpoints", "10", grain_loader.DATA_ITEM,
                           "process_0-of-1.json"), victim, timeout=600)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert reference.wait(timeout=300) == 0, reference.communicate()
  finally:
    for proc in (reference, victim):
      if proc.poll() is None:
        proc.kill()
        proc.communicate()
  assert victim.returncode == -signal.SIGKILL
  resumed = _start([*args, f"--workdir={killed}"], cache_env)
  out, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err
  assert "resuming from step" in out
  _assert_same_final_state(full, killed, 200)


ABLATION = """
from gan_jax import configs
from gan_jax.sweeps import spec


def get_config():
  base = configs.use_ring(configs.base_config())
  base.data.name, base.data.path, base.data.loader = "mnist_records", {path!r}, "grain"
  base.data.grain_workers = 1
  base.model.width, base.model.depth, base.model.z_dim = 32, 2, 4
  base.train.batch_size, base.train.num_steps = 16, 200
  base.train.log_every = base.train.checkpoint_every = 100
  base.train.sample_every = 100000
  c = spec.ablation_config(base)
  c.sweep.variants.exploding = {{"optim": {{"d_lr": 1e30, "g_lr": 1e30}}}}
  c.sweep.variant_names = ("exploding",)
  c.sweep.axes.seed = (0,)
  return c
"""


# How long the run's threads and worker processes may take to finish after it returns: they are
# asked to stop when it ends, and on a loaded machine (a full xdist run on 2 cores) a worker
# process can take seconds to be reaped.
EXIT_DEADLINE_S = 60.0


def _within_deadline(condition, timeout: float = EXIT_DEADLINE_S) -> bool:
  """Polls ``condition()`` until it holds (True) or ``timeout`` seconds pass (False)."""
  deadline = time.monotonic() + timeout
  while not condition():
    if time.monotonic() > deadline:
      return False
    time.sleep(0.05)
  return True


def _live_threads() -> set[int]:
  return {t.ident for t in threading.enumerate() if t.is_alive()}


@pytest.mark.slow
def test_no_thread_or_worker_outlives_a_diverged_grain_run_inside_ablate(records, tmp_path):
  """The prefetch thread and grain's worker processes end with the run (within
  EXIT_DEADLINE_S); the threads left are grain's process-wide shared-memory pool, which the
  second sweep reuses rather than adds to."""
  from gan_jax.sweeps import runner

  config_file = tmp_path / "sweep.py"
  config_file.write_text(ABLATION.format(path=records[0]))
  after = []
  for sweep in ("first", "second"):
    config = load_config(str(config_file))
    results = runner.run_sweep(config, str(tmp_path / sweep))
    assert [r["status"] for r in results] == ["diverged"]
    assert _within_deadline(lambda: not _prefetch_threads()), _prefetch_threads()
    assert _within_deadline(lambda: not multiprocessing.active_children()), (
        multiprocessing.active_children())
    if after:
      assert _within_deadline(lambda: _live_threads() <= after[0]), (
          [t.name for t in threading.enumerate() if t.ident not in after[0]])
    after.append(_live_threads())


# ---- Choosing the loader, and config errors --------------------------------------------------


def _data_config(**fields) -> ml_collections.ConfigDict:
  c = configs.base_config().data
  for k, v in fields.items():
    c[k] = v
  return c


def test_auto_holds_small_datasets_and_streams_large_ones(records, monkeypatch):
  path = records[0]
  for fields in ({"name": "mnist"}, {"name": "digits"}, {"name": "mog_ring"},
                 {"path": sources.embedded_mnist_path()}, {"path": path}):
    assert grain_loader.resolve_loader(_data_config(**fields)) == "memory", fields
  assert sources.load_dataset(_data_config(path=path)).stream is None
  monkeypatch.setattr(grain_loader, "AUTO_GRAIN_BYTES", NUM_RECORDS * 28 * 28 * 4 - 1)
  assert grain_loader.resolve_loader(_data_config(path=path)) == "grain"
  assert sources.load_dataset(_data_config(path=path)).stream.num_examples == NUM_RECORDS
  with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
    # The mocked split (no split info: its source's length) holds 40 x 28x28 float32 images.
    monkeypatch.setattr(grain_loader, "AUTO_GRAIN_BYTES", 40 * 28 * 28 * 4)
    assert grain_loader.resolve_loader(_data_config(name="fashion_mnist")) == "memory"
    monkeypatch.setattr(grain_loader, "AUTO_GRAIN_BYTES", 40 * 28 * 28 * 4 - 1)
    assert grain_loader.resolve_loader(_data_config(name="fashion_mnist")) == "grain"


@pytest.mark.parametrize("fields,message", [
    ({"loader": "fast"}, "data.loader='fast' is unknown; valid: auto, memory, grain"),
    ({"grain_workers": -1}, "data.grain_workers=-1 must be an integer >= 0"),
    ({"grain_worker_buffer_size": 0}, "data.grain_worker_buffer_size=0 must be an integer >= 1"),
    ({"loader": "grain"}, "data.loader='grain' cannot stream data.name='mnist'; valid: a TFDS"),
    ({"loader": "grain", "path": "x.npz"}, "data.loader='grain' cannot stream data.path='x.npz'"),
])
def test_config_errors_name_the_field_in_one_line(fields, message):
  config = configs.base_config()
  for k, v in fields.items():
    config.data[k] = v
  with pytest.raises(ConfigError) as error:
    configs.validate(config, num_devices=1)
  assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_path_matching_no_array_record_file_is_a_config_error(tmp_path):
  with pytest.raises(ConfigError, match="matches no .array_record file"):
    sources.load_dataset(_data_config(path=str(tmp_path / "none-*.array_record")))
