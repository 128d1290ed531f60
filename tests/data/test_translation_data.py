"""Image-to-image data (gan_jax.data.translation): the named tasks' shapes, ranges, pairing and
held-out splits, the user npz and trainA/ trainB/ folder layouts, batches as a pure function of
(seed, step), and one ConfigError line for each bad input."""

from __future__ import annotations

import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from gan_jax.configs import base_config
from gan_jax.data import sources
from gan_jax.data import translation as tr
from gan_jax.errors import ConfigError


def _config(**fields) -> ml_collections.ConfigDict:
  c = base_config().data
  c.update(fields)
  return c


@pytest.fixture(scope="module")
def mnist():
  return sources.load_npz(sources.embedded_mnist_path(), name="mnist")


@pytest.fixture(scope="module")
def named():
  return {name: tr.load(_config(name=name)) for name in tr.NAMES}


def _check_images(x: np.ndarray, shape: tuple) -> None:
  assert x.dtype == np.float32 and x.shape[1:] == shape
  assert x.min() >= -1.0 and x.max() <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name,paired,shape_a,baseline", [
    ("mnist_sr", True, (7, 7, 1), "bicubic"),
    ("mnist_edges", True, (28, 28, 1), "input"),
    ("digits2mnist", False, (28, 28, 1), "input")])
def test_named_tasks_shapes_ranges_and_labels(named, mnist, name, paired, shape_a, baseline):
  d = named[name]
  assert (d.name, d.paired, d.baseline, d.is_image) == (name, paired, baseline, True)
  assert d.shape_a == shape_a and d.shape_b == (28, 28, 1)
  for split in ("train_a", "test_a"):
    _check_images(getattr(d, split), shape_a)
  np.testing.assert_array_equal(d.train_b, mnist.train_x)  # B is MNIST with its own split
  np.testing.assert_array_equal(d.test_b, mnist.test_x)
  assert d.num_train_b == 60_000 and len(d.test_b) == 10_000
  for split in tr.SPLITS:
    assert len(d.labels[split]) == len(getattr(d, split))
  if paired:
    assert d.num_train_a == d.num_train_b and len(d.test_a) == len(d.test_b)
    np.testing.assert_array_equal(d.labels["train_a"], mnist.train_y)
    np.testing.assert_array_equal(d.labels["test_a"], mnist.test_y)


@pytest.mark.slow
def test_mnist_sr_input_is_the_4x4_block_mean_of_the_target(named):
  d = named["mnist_sr"]
  i = 123
  expected = d.test_b[i, :, :, 0].reshape(7, 4, 7, 4).mean((1, 3))
  np.testing.assert_allclose(d.test_a[i, :, :, 0], expected, atol=1e-6)
  np.testing.assert_allclose(tr.block_mean(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1),
                                           2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_edge_map_is_the_one_pixel_outline_outside_the_stroke():
  x = -np.ones((1, 7, 7, 1), np.float32)
  x[0, 2:5, 2:5] = 1.0  # a 3x3 stroke
  e = tr.edge_map(x)[0, :, :, 0]
  ring = np.zeros((7, 7), bool)
  ring[1:6, 1:6] = True
  ring[2:5, 2:5] = False  # the 5x5 square's border: the pixels just outside the stroke
  np.testing.assert_array_equal(e > 0, ring)
  assert set(np.unique(e)) == {-1.0, 1.0}
  faint = np.where(x > 0, -0.2, -1.0).astype(np.float32)  # u = 0.4 < threshold: no edges
  assert (tr.edge_map(faint) < 0).all()


@pytest.mark.slow
def test_mnist_edges_input_is_the_edge_map_of_the_target(named):
  d = named["mnist_edges"]
  np.testing.assert_array_equal(d.test_a[:50], tr.edge_map(d.test_b[:50]))
  assert 0.05 < (d.train_a[:1000] > 0).mean() < 0.4  # outlines, neither empty nor solid


@pytest.mark.slow
def test_digits2mnist_domain_a_is_the_digits_dataset_and_its_held_out_split(named):
  d, digits = named["digits2mnist"], sources.load_digits(28)
  np.testing.assert_array_equal(d.train_a, digits.train_x)
  np.testing.assert_array_equal(d.test_a, digits.test_x)
  np.testing.assert_array_equal(d.labels["test_a"], digits.test_y)
  assert (d.num_train_a, len(d.test_a)) == (1437, 360)


@pytest.mark.slow
def test_named_loads_are_deterministic(named):
  again = tr.load(_config(name="mnist_edges"))
  np.testing.assert_array_equal(again.train_a, named["mnist_edges"].train_a)
  np.testing.assert_array_equal(again.test_a, named["mnist_edges"].test_a)


@pytest.mark.slow
def test_domain_dataset_of_mnist_is_the_embedded_mnist(named, mnist):
  b = tr.domain_dataset(named["digits2mnist"], "b")
  assert b.name == "mnist" and b.num_classes == 10
  np.testing.assert_array_equal(b.train_y, mnist.train_y)
  a = tr.domain_dataset(named["digits2mnist"], "a")
  assert a.name == "digits2mnist_a" and a.test_x.shape == (360, 28, 28, 1)


# ---- Batches ----------------------------------------------------------------------------------


def _indexed(n: int, value_offset: int = 0, shape=(2, 2, 1)) -> np.ndarray:
  """Images whose every pixel encodes their row: row i is (i + offset) / 1000 everywhere."""
  return np.broadcast_to(((np.arange(n) + value_offset) / 1000.0).astype(np.float32)[
      :, None, None, None], (n, *shape)).copy()


def _row_ids(x: np.ndarray, offset: int = 0) -> np.ndarray:
  return np.rint(x[:, 0, 0, 0] * 1000).astype(int) - offset


def _data(num_a: int, num_b: int, paired: bool) -> tr.TranslationData:
  return tr.TranslationData("t", paired, _indexed(num_a), _indexed(num_b, 500), _indexed(2),
                            _indexed(2, 500), {}, "input")


def test_paired_batches_keep_rows_paired_and_cover_each_epoch():
  fn = tr.make_batch_fn(_data(40, 40, True), batch_size=8, seed=3)
  seen = []
  for step in range(5):
    b = fn(step)
    assert b["a"].shape == (8, 2, 2, 1) and b["b"].shape == (8, 2, 2, 1)
    np.testing.assert_array_equal(_row_ids(b["a"]), _row_ids(b["b"], 500))
    seen.extend(_row_ids(b["a"]))
  assert sorted(seen) == list(range(40))  # one epoch: every example once


def test_unpaired_batches_draw_independent_permutations():
  d = _data(40, 40, False)
  fn = tr.make_batch_fn(d, batch_size=8, seed=3)
  ids_a = np.concatenate([_row_ids(fn(s)["a"]) for s in range(5)])
  ids_b = np.concatenate([_row_ids(fn(s)["b"], 500) for s in range(5)])
  assert sorted(ids_a) == sorted(ids_b) == list(range(40))
  assert (ids_a != ids_b).any()
  # Different lengths: each domain its own epochs.
  fn = tr.make_batch_fn(_data(16, 40, False), batch_size=8, seed=3)
  assert sorted(np.concatenate([_row_ids(fn(s)["a"]) for s in range(2)])) == list(range(16))
  assert sorted(np.concatenate([_row_ids(fn(s)["b"], 500) for s in range(5)])) == list(range(40))


@pytest.mark.parametrize("paired", [True, False])
def test_batches_are_a_pure_function_of_seed_and_step_and_split_over_processes(paired):
  d = _data(40, 56, paired) if not paired else _data(40, 40, True)
  fn = tr.make_batch_fn(d, batch_size=8, seed=5)
  forward = [fn(s) for s in range(12)]
  fresh = tr.make_batch_fn(d, batch_size=8, seed=5)
  for s in (11, 3, 7, 0):  # out of order, across epochs, on a fresh sampler
    for k in ("a", "b"):
      np.testing.assert_array_equal(fresh(s)[k], forward[s][k])
  halves = [tr.make_batch_fn(d, batch_size=8, seed=5, process_index=i, process_count=2)
            for i in range(2)]
  for s in (0, 9):
    for k in ("a", "b"):
      np.testing.assert_array_equal(np.concatenate([h(s)[k] for h in halves]), forward[s][k])
  other = tr.make_batch_fn(d, batch_size=8, seed=6)
  assert not np.array_equal(other(0)["a"], forward[0]["a"])


# ---- User data: npz ---------------------------------------------------------------------------


def _save_npz(path, **arrays) -> str:
  np.savez(path, **arrays)
  return str(path)


def test_npz_equal_lengths_are_paired_and_the_held_out_split_is_disjoint(tmp_path):
  a = np.arange(50, dtype=np.uint8)[:, None, None].repeat(4, 1).repeat(4, 2)  # row i = i
  b = (a.astype(np.float32) / 127.5 - 1.0)[..., None].repeat(3, -1)  # float, 3 channels
  path = _save_npz(tmp_path / "pairs.npz", a=a, b=b)
  d = tr.load(_config(path=path, test_fraction=0.2, split_seed=1))
  assert d.paired and d.name == "pairs" and d.baseline == "input" and d.labels == {}
  assert d.shape_a == (4, 4, 1) and d.shape_b == (4, 4, 3)
  ids = lambda x: np.rint((x[:, 0, 0, 0] + 1.0) * 127.5).astype(int)
  assert (len(d.train_a), len(d.test_a)) == (40, 10)
  assert set(ids(d.train_a)).isdisjoint(ids(d.test_a))
  assert sorted([*ids(d.train_a), *ids(d.test_a)]) == list(range(50))
  np.testing.assert_array_equal(ids(d.test_a), ids(d.test_b))  # pairs held out together
  again = tr.load(_config(path=path, test_fraction=0.2, split_seed=1))
  np.testing.assert_array_equal(again.test_a, d.test_a)
  other = tr.load(_config(path=path, test_fraction=0.2, split_seed=2))
  assert set(ids(other.test_a)) != set(ids(d.test_a))


def test_npz_unequal_lengths_or_paired_false_are_unpaired(tmp_path):
  a = np.zeros((30, 7, 7), np.uint8)
  b = np.full((45, 28, 28), 255, np.uint8)
  d = tr.load(_config(path=_save_npz(tmp_path / "u.npz", a=a, b=b)))
  assert not d.paired and d.baseline == "bicubic"
  assert (len(d.train_a), len(d.test_a), len(d.train_b), len(d.test_b)) == (27, 3, 41, 4)
  assert d.train_a.max() == -1.0 and d.train_b.min() == 1.0
  same = _save_npz(tmp_path / "s.npz", a=a, b=b[:30])
  assert tr.load(_config(path=same)).paired
  assert not tr.load(_config(path=same, paired=False)).paired


def test_npz_with_a_test_split_uses_it(tmp_path):
  a, b = np.zeros((10, 5, 5), np.uint8), np.zeros((10, 5, 5), np.uint8)
  path = _save_npz(tmp_path / "t.npz", a=a, b=b, a_test=a[:3] + 255, b_test=b[:3] + 255)
  d = tr.load(_config(path=path))
  assert d.paired and (len(d.train_a), len(d.test_a)) == (10, 3) and d.test_b.min() == 1.0


# ---- User data: folders -----------------------------------------------------------------------


def _write_images(folder, images, mode: str = "L", suffix: str = ".png") -> None:
  os.makedirs(folder, exist_ok=True)
  for i, im in enumerate(images):
    Image.fromarray(im, mode).save(os.path.join(folder, f"{i:03d}{suffix}"))


def _folder_fixture(root, num_train: int = 6, num_test: int = 2, test: bool = True) -> str:
  grey = lambda n, v: [np.full((8, 8), v + i, np.uint8) for i in range(n)]
  rgb = lambda n, v: [np.full((12, 12, 3), v + i, np.uint8) for i in range(n)]
  _write_images(root / "trainA", grey(num_train, 0))
  _write_images(root / "trainB", rgb(num_train, 100), "RGB", ".jpg")
  if test:
    _write_images(root / "testA", grey(num_test, 50))
    _write_images(root / "testB", rgb(num_test, 200), "RGB")
  return str(root)


def test_folder_layout_loads_both_domains_in_name_order(tmp_path):
  d = tr.load(_config(path=_folder_fixture(tmp_path / "horse2zebra")))
  assert d.name == "horse2zebra" and d.paired and d.baseline == "bicubic"
  assert d.shape_a == (8, 8, 1) and d.shape_b == (12, 12, 3)
  assert (len(d.train_a), len(d.test_a), len(d.train_b), len(d.test_b)) == (6, 2, 6, 2)
  np.testing.assert_allclose(d.train_a[:, 0, 0, 0], (np.arange(6) / 127.5 - 1.0), atol=1e-6)
  np.testing.assert_allclose(d.test_a[:, 0, 0, 0], (np.arange(50, 52) / 127.5 - 1.0), atol=1e-6)
  assert d.train_b.min() >= -1.0 and d.train_b.max() <= 1.0


def test_folder_layout_without_test_folders_holds_out_a_split(tmp_path):
  d = tr.load(_config(path=_folder_fixture(tmp_path / "x", num_train=10, test=False),
                      paired=False))
  assert not d.paired and (len(d.train_a), len(d.test_a)) == (9, 1)


def _one_line_error(data_config, *fragments) -> str:
  with pytest.raises(ConfigError) as info:
    tr.load(data_config)
  message = str(info.value)
  assert "\n" not in message
  for fragment in fragments:
    assert fragment in message, message
  return message


def test_bad_folders_give_one_config_error_line(tmp_path):
  root = tmp_path / "missing"
  _write_images(root / "trainA", [np.zeros((4, 4), np.uint8)])
  _one_line_error(_config(path=str(root)), "data.path=", "trainB")
  mixed = tmp_path / "mixed"
  _write_images(mixed / "trainA", [np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)])
  _write_images(mixed / "trainB", [np.zeros((4, 4), np.uint8)] * 2)
  _one_line_error(_config(path=str(mixed)), "mixes image sizes", "001.png")
  empty = tmp_path / "empty"
  os.makedirs(empty / "trainA")
  _write_images(empty / "trainB", [np.zeros((4, 4), np.uint8)])
  (empty / "trainA" / "notes.txt").write_text("no images")
  _one_line_error(_config(path=str(empty)), "holds no images")
  half = tmp_path / "half"
  _folder_fixture(half, test=False)
  _write_images(half / "testA", [np.zeros((8, 8), np.uint8)])
  _one_line_error(_config(path=str(half)), "testA", "testB")
  broken = tmp_path / "broken"
  _folder_fixture(broken)
  (broken / "trainA" / "zz.png").write_bytes(b"not a png")
  _one_line_error(_config(path=str(broken)), "zz.png", "not a readable image")
  other_size = tmp_path / "other_size"
  _folder_fixture(other_size)
  _write_images(other_size / "testA", [np.zeros((9, 9), np.uint8)] * 2)
  _one_line_error(_config(path=str(other_size)), "test images of domain A")


def test_bad_npz_and_names_give_one_config_error_line(tmp_path):
  _one_line_error(_config(name="mnist"), "data.name='mnist'", "mnist_sr")
  _one_line_error(_config(path=str(tmp_path / "nope.npz")), "does not exist")
  _one_line_error(_config(path=_save_npz(tmp_path / "k.npz", x_train=np.zeros((2, 4, 4)))),
                  "lacks array(s) ['a', 'b']")
  a = np.zeros((4, 4, 4), np.uint8)
  _one_line_error(_config(path=_save_npz(tmp_path / "t.npz", a=a, b=a, a_test=a)),
                  "a_test, b_test")
  _one_line_error(_config(path=_save_npz(tmp_path / "r.npz", a=a, b=a.astype(np.float32) + 3)),
                  "not all finite and in [-1, 1]")
  _one_line_error(_config(path=_save_npz(tmp_path / "i.npz", a=a.astype(np.int64), b=a)),
                  "uint8", "int64")
  _one_line_error(_config(path=_save_npz(tmp_path / "f.npz", a=a[:, 0], b=a)), "(N, H, W)")
  _one_line_error(_config(path=_save_npz(tmp_path / "one.npz", a=a[:1], b=a[:1])),
                  "at least 2")
  _one_line_error(_config(path=_save_npz(tmp_path / "q.npz", a=a, b=a), test_fraction=1.5),
                  "data.test_fraction=1.5")
  text = tmp_path / "text.npz"
  text.write_text("not numpy")
  _one_line_error(_config(path=str(text)), "not a readable .npz")
