"""The data pipeline: embedded MNIST, toy mixtures, npz layout checks, deterministic order."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest

from gan_jax.data import sampler, sources
from gan_jax.errors import ConfigError


def _cfg(**kw):
  c = ml_collections.ConfigDict(dict(name="mnist", path="", image_size=28))
  c.update(kw)
  return c


def test_embedded_mnist_is_real_mnist():
  ds = sources.load_dataset(_cfg())
  assert ds.train_x.shape == (60000, 28, 28, 1) and ds.test_x.shape == (10000, 28, 28, 1)
  assert ds.train_x.min() == -1.0 and ds.train_x.max() == 1.0
  assert list(ds.train_y[:6]) == [5, 0, 4, 1, 9, 2] and ds.num_classes == 10


def test_digits_resized():
  ds = sources.load_dataset(_cfg(name="digits"))
  assert ds.train_x.shape[1:] == (28, 28, 1) and ds.num_classes == 10
  assert -1.0 <= ds.train_x.min() < ds.train_x.max() <= 1.0


@pytest.mark.parametrize("name,modes,std", [("mog_ring", 8, 0.02), ("mog_grid", 25, 0.05)])
def test_mixtures(name, modes, std):
  ds = sources.load_dataset(_cfg(name=name))
  assert ds.mode_centers.shape == (modes, 2) and ds.mode_std == std
  d = np.linalg.norm(ds.train_x[:, None] - ds.mode_centers[None], axis=-1).min(1)
  # |x - mu|^2 / std^2 ~ chi2(2): P(within 3 std) = 1 - exp(-9/2).
  assert abs(np.mean(d < 3 * std) - (1 - np.exp(-4.5))) < 0.003
  if name == "mog_ring":
    np.testing.assert_allclose(np.linalg.norm(ds.mode_centers, axis=1), 2.0, rtol=1e-6)


def test_npz_layout_errors(tmp_path):
  bad = tmp_path / "bad.npz"
  np.savez(bad, images=np.zeros((4, 28, 28), np.uint8))
  with pytest.raises(ConfigError, match="lacks key"):
    sources.load_dataset(_cfg(path=str(bad)))
  np.savez(bad, x_train=np.zeros((4, 28, 28), np.float32))
  with pytest.raises(ConfigError, match="uint8"):
    sources.load_dataset(_cfg(path=str(bad)))
  np.savez(bad, x_train=np.zeros((4, 28, 28), np.uint8), y_train=np.zeros((3,), np.int64))
  with pytest.raises(ConfigError, match="y_train"):
    sources.load_dataset(_cfg(path=str(bad)))
  with pytest.raises(ConfigError, match="does not exist"):
    sources.load_dataset(_cfg(path=str(tmp_path / "missing.npz")))


def test_batches_are_a_pure_function_of_step():
  ds = sources.load_dataset(_cfg(name="digits"))
  a = sampler.make_batch_fn(ds, batch_size=32, n_critic=2, seed=3)
  b = sampler.make_batch_fn(ds, batch_size=32, n_critic=2, seed=3)
  for step in (0, 5, 44, 3):  # out of order: a resumed run starts mid-way
    np.testing.assert_array_equal(a(step)["x"], b(step)["x"])
  assert a(0)["x"].shape == (32, 2, 28, 28, 1) and "y" not in a(0)
  assert sampler.make_batch_fn(ds, batch_size=32, n_critic=2, seed=3, with_labels=True)(0)[
      "y"].shape == (32, 2)
  assert not np.array_equal(a(0)["x"], sampler.make_batch_fn(ds, batch_size=32, n_critic=2,
                                                          seed=4)(0)["x"])


def _indexed_dataset(n=103, num_classes=10):
  """Example i is the image filled with i; its label is a fixed random class."""
  x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 2, 2, 1))
  y = np.random.default_rng(0).integers(0, num_classes, n).astype(np.int32)
  return sources.Dataset("indexed", x.copy(), y, x[:0], y[:0], num_classes=num_classes), y


def test_batch_of_a_late_step_is_read_the_same_by_a_fresh_sampler_with_each_label_paired():
  """A resumed run's first batch: a sampler that never saw earlier steps reads the same one,
  and every label is the label of its own image."""
  ds, labels = _indexed_dataset()
  kw = dict(batch_size=8, n_critic=3, seed=5, with_labels=True)
  walked = sampler.make_batch_fn(ds, **kw)
  late = {step: walked(step) for step in range(12)}  # across epochs: 12 steps x 24 > 103
  for step in (11, 7, 4):
    fresh = sampler.make_batch_fn(ds, **kw)(step)
    np.testing.assert_array_equal(fresh["x"], late[step]["x"])
    np.testing.assert_array_equal(fresh["y"], late[step]["y"])
  for batch in late.values():
    index = batch["x"][..., 0, 0, 0].astype(int)  # (8, 3): which example each entry is
    assert batch["y"].shape == index.shape == (8, 3)
    np.testing.assert_array_equal(batch["y"], labels[index])
  # Within an epoch no example repeats: 103 // 8 = 12 micro-batches per epoch.
  first_epoch = np.concatenate([late[s]["x"][..., 0, 0, 0].T.reshape(-1) for s in range(4)])
  assert len(set(first_epoch.astype(int))) == 96


def test_each_epoch_visits_every_example_once():
  batches = sampler.BatchSampler(100, 10, seed=0)
  seen = np.concatenate([batches.indices(m) for m in range(10)])
  assert sorted(seen) == list(range(100))
  assert not np.array_equal(seen, np.concatenate([batches.indices(m) for m in range(10, 20)]))


def test_process_shards_partition_the_global_batch():
  ds = sources.load_dataset(_cfg(name="mog_ring"))
  full = sampler.make_batch_fn(ds, batch_size=8, n_critic=1, seed=0)(7)["x"]
  parts = [sampler.make_batch_fn(ds, batch_size=8, n_critic=1, seed=0, process_index=i,
                              process_count=2)(7)["x"] for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(parts), full)


def test_keras_cifar10_layout_npz_loads(tmp_path):
  """keras.datasets.cifar10: uint8 (N, 32, 32, 3) images and uint8 labels of shape (N, 1)."""
  path = str(tmp_path / "cifar10.npz")
  rng = np.random.default_rng(0)
  np.savez(path, x_train=rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
           y_train=np.arange(6, dtype=np.uint8)[:, None],
           x_test=np.zeros((2, 32, 32, 3), np.uint8), y_test=np.array([[9], [1]], np.uint8))
  ds = sources.load_dataset(_cfg(path=path))
  assert ds.is_image and ds.example_shape == (32, 32, 3) and ds.num_classes == 10
  assert ds.train_y.shape == (6,) and ds.train_y.dtype == np.int32
  assert list(ds.train_y) == list(range(6)) and list(ds.test_y) == [9, 1]
