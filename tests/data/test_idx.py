"""Fashion-MNIST from Debian's dataset-fashion-mnist (idx files), TFDS otherwise."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

from gan_jax import configs
from gan_jax.data import idx, sources
from gan_jax.errors import ConfigError


def _write_idx(path: str, a: np.ndarray) -> None:
  header = b"\0\0\x08" + bytes([a.ndim]) + struct.pack(f">{a.ndim}i", *a.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + a.astype(np.uint8).tobytes())


def _fake_dir(directory, n_train=5, n_test=3) -> dict:
  rng = np.random.default_rng(0)
  arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28)),
            "y_train": rng.integers(0, 10, n_train),
            "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": np.arange(n_test)}
  for key, stem in idx.FILES.items():
    _write_idx(os.path.join(directory, stem + ".gz"), arrays[key])
  return arrays


def test_idx_files_load_as_a_dataset(tmp_path):
  arrays = _fake_dir(str(tmp_path))
  ds = idx.load_idx_dir(str(tmp_path), "fashion_mnist")
  assert ds.train_x.shape == (5, 28, 28, 1) and ds.test_x.shape == (3, 28, 28, 1)
  np.testing.assert_array_equal(np.round((ds.train_x[..., 0] + 1) * 127.5), arrays["x_train"])
  np.testing.assert_array_equal(ds.test_y, arrays["y_test"])
  assert ds.num_classes == int(max(arrays["y_train"].max(), 2)) + 1


def test_data_name_fashion_mnist_reads_the_debian_files(tmp_path, monkeypatch):
  _fake_dir(str(tmp_path))
  monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", str(tmp_path))
  c = configs.base_config().data
  c.name = "fashion_mnist"
  ds = sources.load_dataset(c)
  assert ds.name == "fashion_mnist" and len(ds.train_x) == 5  # not TFDS's 60000


@pytest.mark.parametrize("payload,needle", [(b"\0\0\x0d\x01\0\0\0\x01\0", "unsigned bytes"),
                                            (b"\0\0\x08\x01\0\0\0\x05ab", "does not match")],
                         ids=["type", "short"])
def test_a_malformed_idx_file_is_one_config_error(tmp_path, payload, needle):
  path = str(tmp_path / "x-idx1-ubyte")
  with open(path, "wb") as f:
    f.write(payload)
  with pytest.raises(ConfigError, match=needle):
    idx.read_idx(path)


def test_the_installed_debian_fashion_mnist():
  if not idx.has_idx_dir(idx.DEBIAN_FASHION_MNIST):
    pytest.skip(f"Debian's dataset-fashion-mnist is not installed at {idx.DEBIAN_FASHION_MNIST} "
                "(apt-get install dataset-fashion-mnist)")
  c = configs.base_config().data
  c.name = "fashion_mnist"
  ds = sources.load_dataset(c)
  assert ds.train_x.shape == (60000, 28, 28, 1) and ds.test_x.shape == (10000, 28, 28, 1)
  assert ds.num_classes == 10 and list(ds.train_y[:5]) == [9, 0, 0, 3, 0]
  assert np.bincount(ds.test_y).tolist() == [1000] * 10
