"""The Classification Accuracy Score with an oracle generator (real images) matches a classifier
trained on real data, and falls to chance for samples whose labels are wrong."""

from __future__ import annotations

import numpy as np
import pytest

from gan_jax.data import sources
from gan_jax.evaluation import cas


@pytest.fixture(scope="module")
def digits():
  return sources.load_digits(28)


@pytest.mark.slow
def test_cas_of_an_oracle_generator_matches_a_classifier_trained_on_real_data(digits):
  """The oracle's samples: real training images of the requested labels i % K (seed 1). The
  reference: the same recipe on a uniformly drawn real subset of the same size (seed 2), with
  real labels. Tolerance 0.03: on the 360 test digits one image is 0.28 points, and the two
  differ only by which training images and which batches they draw (their seed-to-seed spread
  on this split is about a point)."""
  num = 1000
  x, y = cas.balanced_real_subset(digits, num, seed=1)
  oracle = cas.classification_accuracy_score(x, y, digits, seed=1)
  idx = np.random.default_rng(2).choice(len(digits.train_x), num, replace=False)
  real = cas.classification_accuracy_score(digits.train_x[idx], digits.train_y[idx], digits,
                                           seed=2)
  assert real > 0.85
  assert abs(oracle - real) <= 0.03, (oracle, real)
  assert cas.real_baseline(digits, num, seed=1) == oracle  # the baseline is the oracle's CAS


def test_cas_of_samples_with_wrong_labels_is_near_chance(digits):
  """A generator whose sample of class c looks like another class scores about 1/K."""
  x, y = cas.balanced_real_subset(digits, 1000, seed=1)
  wrong = (y + 1 + np.random.default_rng(0).integers(0, 9, len(y))) % digits.num_classes
  assert cas.classification_accuracy_score(x, wrong, digits) < 0.25
