"""TFDS datasets, offline: mocked data sources, per-process shards, and the not-prepared error."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import data, tfds_data
from gan_jax.errors import ConfigError
from tests.helpers import load_config, run_module


def _data_config(name="fashion_mnist", data_dir=""):
  return ml_collections.ConfigDict(
      {"name": name, "path": "", "tfds_data_dir": data_dir, "tfds_split": "train"})


@pytest.fixture
def mocked():
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    yield


def test_mocked_dataset_loads_as_images_and_labels(mocked):
  ds = data.load_dataset(_data_config())
  assert ds.train_x.shape == (12, 28, 28, 1) and ds.train_x.dtype == np.float32
  assert -1.0 <= ds.train_x.min() < ds.train_x.max() <= 1.0
  assert ds.num_classes == 10 and ds.train_y.shape == (12,)
  assert set(np.unique(ds.train_y)) <= set(range(10)) and ds.test_x.shape[1:] == (28, 28, 1)


def test_each_process_reads_its_own_equal_shard(mocked):
  whole = tfds_data.load("fashion_mnist", _data_config(), process_index=0, process_count=1)
  shards = [tfds_data.load("fashion_mnist", _data_config(), process_index=p, process_count=2)
            for p in range(2)]
  assert [s.process_shard for s in shards] == [(0, 2), (1, 2)]
  assert shards[0].train_x.shape == shards[1].train_x.shape == (6, 28, 28, 1)
  np.testing.assert_array_equal(np.concatenate([s.train_x for s in shards]), whole.train_x)
  np.testing.assert_array_equal(np.concatenate([s.train_y for s in shards]), whole.train_y)


def test_trains_on_a_mocked_tfds_dataset(mocked, tmp_path):
  from gan_jax import train

  config = load_config("experiments/tiny.py")
  config.data.name = "fashion_mnist"
  config.train.batch_size, config.train.num_steps = 4, 2
  config.train.log_every = config.train.sample_every = config.train.checkpoint_every = 2
  config.train.eval_at_end = False
  assert train.train_and_evaluate(config, str(tmp_path))["final_step"] == 2


def test_not_prepared_says_how_to_prepare(tmp_path):
  with pytest.raises(ConfigError) as error:
    data.load_dataset(_data_config(data_dir=str(tmp_path)))
  message = str(error.value)
  assert "not prepared" in message and "tfds build fashion_mnist" in message
  assert "data.path" in message and "\n" not in message


def test_main_refuses_a_not_prepared_dataset_in_one_line(tmp_path):
  workdir = str(tmp_path / "run")
  proc = run_module("gan_jax.main", "--config=experiments/nonsaturating.py",
                    f"--workdir={workdir}", "--config.data.name=fashion_mnist",
                    f"--config.data.tfds_data_dir={tmp_path / 'tfds'}", check=False)
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode == 2 and len(lines) == 1, proc.stderr
  assert "tfds build fashion_mnist" in lines[0]
