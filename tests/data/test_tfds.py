"""TFDS datasets, offline: mocked data sources, per-process shards, and the not-prepared error.

TensorFlow is not needed: ``tfds.testing.mock_data(policy=USE_CODE)`` mocks ``tfds.data_source``
with random examples generated from the dataset's features, which is the path
``gan_jax.tfds_data`` reads (ArrayRecord random access, no TensorFlow).
"""

from __future__ import annotations

import os

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax.data import sources
from gan_jax.data import tfds_source as tfds_data
from gan_jax.errors import ConfigError
from tests.helpers import load_config, run_module


@pytest.fixture(autouse=True)
def _tfds_not_debian(monkeypatch, tmp_path):
  """These tests exercise TFDS: Debian's Fashion-MNIST files (tests/data/test_idx.py) stay
  hidden."""
  from gan_jax.data import idx

  monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", str(tmp_path / "no-debian-files"))


def _data_config(name="fashion_mnist", data_dir=""):
  return ml_collections.ConfigDict(
      {"name": name, "path": "", "tfds_data_dir": data_dir, "tfds_split": "train"})


def _mocked(num_examples: int):
  return tfds.testing.mock_data(num_examples=num_examples,
                                policy=tfds.testing.MockPolicy.USE_CODE)


# ("mnist" itself is the embedded built-in dataset, not TFDS.)
@pytest.mark.parametrize("name,shape", [("fashion_mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_mocked_dataset_loads_as_images_and_labels(name, shape):
  with _mocked(12):
    ds = sources.load_dataset(_data_config(name))
  assert ds.name == name and ds.is_image and ds.has_labels and ds.process_shard == (0, 1)
  assert ds.train_x.shape == (12, *shape) and ds.train_x.dtype == np.float32
  assert ds.test_x.shape == (12, *shape) and ds.test_x.dtype == np.float32
  assert -1.0 <= ds.train_x.min() < ds.train_x.max() <= 1.0
  # The images were uint8: every value is k / 127.5 - 1 for an integer k in [0, 255].
  levels = (ds.train_x + 1.0) * 127.5
  np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
  assert ds.num_classes == 10
  assert ds.train_y.shape == (12,) and ds.train_y.dtype == np.int32
  assert ds.test_y.shape == (12,) and ds.test_y.dtype == np.int32
  assert 0 <= ds.train_y.min() and ds.train_y.max() < 10
  assert len(np.unique(ds.train_y)) > 1  # real (mocked) labels, not a constant fill


@pytest.mark.parametrize("num_examples", [12, 13])
def test_each_process_reads_its_own_equal_shard(num_examples):
  config = _data_config()
  with _mocked(num_examples):
    whole = tfds_data.load("fashion_mnist", config, process_index=0, process_count=1)
    shards = [tfds_data.load("fashion_mnist", config, process_index=p, process_count=2)
              for p in range(2)]
  assert whole.process_shard == (0, 1) and len(whole.train_x) == num_examples
  assert [s.process_shard for s in shards] == [(0, 2), (1, 2)]
  # Equal sizes: with 13 examples the last one is dropped rather than given to one process.
  assert shards[0].train_x.shape == shards[1].train_x.shape == (6, 28, 28, 1)
  # Disjoint, consecutive ranges of the split: [0, 6) and [6, 12).
  first = {x.tobytes() for x in shards[0].train_x}
  second = {x.tobytes() for x in shards[1].train_x}
  assert len(first) == len(second) == 6 and not first & second
  np.testing.assert_array_equal(np.concatenate([s.train_x for s in shards]), whole.train_x[:12])
  np.testing.assert_array_equal(np.concatenate([s.train_y for s in shards]), whole.train_y[:12])
  # The test split (for evaluation) is read whole by every process.
  for s in shards:
    np.testing.assert_array_equal(s.test_x, whole.test_x)


def test_trains_on_a_mocked_tfds_dataset(tmp_path):
  from gan_jax.training import loop

  config = load_config("experiments/tiny.py")
  config.data.name = "fashion_mnist"
  config.train.batch_size, config.train.num_steps = 4, 2
  config.train.log_every = config.train.sample_every = config.train.checkpoint_every = 2
  config.train.eval_at_end = False
  with _mocked(12):
    summary = loop.train_and_evaluate(config, str(tmp_path))
  assert summary["final_step"] == 2


def test_not_prepared_says_how_to_prepare(tmp_path):
  data_dir = str(tmp_path / "tfds")
  with pytest.raises(ConfigError) as error:
    sources.load_dataset(_data_config(data_dir=data_dir))
  message = str(error.value)
  assert "\n" not in message
  assert f"TFDS dataset 'fashion_mnist' is not prepared in {data_dir}" in message, message
  assert f"tfds build fashion_mnist --file_format=array_record --data_dir={data_dir}" in message
  assert f"--config.data.tfds_data_dir={data_dir}" in message and "data.path" in message
  assert not os.path.exists(data_dir)  # nothing downloaded or prepared


def test_main_refuses_a_not_prepared_dataset_in_one_line(tmp_path):
  workdir, data_dir = tmp_path / "run", tmp_path / "tfds"
  proc = run_module("gan_jax.main", "--config=experiments/nonsaturating.py",
                    f"--workdir={workdir}", "--config.data.name=fashion_mnist",
                    f"--config.data.tfds_data_dir={data_dir}", check=False)
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith("error: TFDS dataset 'fashion_mnist' is not prepared"), lines[0]
  assert f"tfds build fashion_mnist --file_format=array_record --data_dir={data_dir}" in lines[0]
  assert not workdir.exists() and not data_dir.exists()
