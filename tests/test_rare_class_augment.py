"""``gan_jax.augment``: the rare-class cut, the balancing count, and a tiny run end to end."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gan_jax import augment


def test_cut_keeps_one_percent_of_the_rare_class_and_all_others():
  y = np.repeat(np.arange(3), [500, 300, 200])
  x = np.arange(len(y))
  x_cut, y_cut = augment.cut_class(x, y, 1, 0.01, seed=0)
  assert np.bincount(y_cut).tolist() == [500, 3, 200]
  np.testing.assert_array_equal(x_cut[y_cut != 1], x[y != 1])
  assert not np.array_equal(augment.cut_class(x, y, 1, 0.01, seed=1)[0], x_cut)
  assert np.bincount(augment.cut_class(x, y, 2, 0.001, seed=0)[1]).tolist() == [500, 300, 1]
  assert augment.balance_count(y_cut, 1, 3) == 350 - 3


def test_class_accuracies():
  overall, per_class = augment.class_accuracies(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]),
                                                3)
  assert overall == 0.75
  np.testing.assert_array_equal(per_class, [1.0, 1.0, 0.5])


def test_oversample_repeats_only_the_rare_class_kept_images():
  x = np.arange(10, dtype=np.float32)[:, None]
  y = np.array([0, 1, 0, 1, 2, 2, 2, 0, 1, 2])
  repeats = augment.oversample(x, y, 1, 7, seed=0)
  assert repeats.shape == (7, 1)
  assert set(repeats[:, 0].tolist()) <= {1.0, 3.0, 8.0}  # the class-1 rows, with replacement
  np.testing.assert_array_equal(repeats, augment.oversample(x, y, 1, 7, seed=0))


@pytest.mark.slow
def test_a_tiny_augmentation_run_writes_its_records_and_table(tmp_path):
  """digits, one rare class, one seed, a 2-step GAN and the MLP classifier: the records hold
  the counts and accuracies of the four settings, and a rerun reads them back."""
  kwargs = dict(data="digits", rare_classes=[3], seeds=[0], keep_fraction=0.05,
                gan_config="experiments/cgan.py", gan_steps=2, classifier="mlp",
                classifier_steps=50)
  records = augment.run(str(tmp_path), **kwargs)
  (record,) = records
  assert record["rare_train_images"] == 7  # round(0.05 * 146) of the 1437 training digits
  assert record["generated_images"] > 100
  for s in augment.SETTINGS:
    assert 0.0 <= record[f"{s}_rare_acc"] <= 1.0 and 0.5 < record[f"{s}_overall_acc"] <= 1.0
  assert record["ceiling_rare_acc"] > record["imbalanced_rare_acc"]
  with open(tmp_path / "augment.md") as f:
    assert f.read().splitlines()[2].startswith("| 3 | 1 | ")
  assert augment.run(str(tmp_path), **kwargs) == records  # read back, not recomputed
  assert os.path.isfile(tmp_path / "gan" / "rare3_seed0" / "run" / "config.json")
  assert os.path.isfile(tmp_path / "records" / "ceiling_seed0.json")  # once per seed
