"""Tests of the metric functions against closed forms and hand-countable cases."""

import numpy as np
import pytest
from scipy import linalg
from scipy.stats import special_ortho_group

from gan_jax.data import sources
from gan_jax.evaluation import metrics


def _gaussian_fd(mu1, s1, mu2, s2):
  """‖Δμ‖² + tr(Σ1 + Σ2 - 2 sqrtm(Σ1 Σ2)) with scipy's general sqrtm."""
  covmean = linalg.sqrtm(s1 @ s2).real
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


# --------------------------------------------------------------------------------------------
# Fréchet distance.


def test_fd_identical_sets_is_zero():
  x = np.random.default_rng(0).normal(size=(500, 16))
  assert abs(metrics.frechet_distance(x, x)) < 1e-6


def test_fd_from_stats_diagonal_closed_form():
  # Commuting diagonal covariances: tr √(Σ1Σ2) = Σ_i √(a_i b_i), so FD = ‖Δμ‖² + Σ(√a - √b)².
  a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
  expected = 1.0 + 9.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = metrics.frechet_distance_from_stats(mu1, np.diag(a), mu2, np.diag(b))
  assert got == pytest.approx(expected, rel=1e-12)


def test_fd_from_stats_is_rotation_invariant():
  # Rotating both Gaussians by the same R leaves FD unchanged (non-commuting case covered too:
  # Σ2 is rotated alone in the second check against the scipy formula).
  rng = np.random.default_rng(1)
  rot = special_ortho_group.rvs(4, random_state=2)
  s1, s2 = np.diag([1.0, 2.0, 3.0, 4.0]), np.diag([0.5, 0.5, 5.0, 1.0])
  mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
  base = metrics.frechet_distance_from_stats(mu1, s1, mu2, s2)
  rotated = metrics.frechet_distance_from_stats(rot @ mu1, rot @ s1 @ rot.T, rot @ mu2,
                                                rot @ s2 @ rot.T)
  assert rotated == pytest.approx(base, rel=1e-10)
  s2_rot = rot @ s2 @ rot.T
  assert metrics.frechet_distance_from_stats(mu1, s1, mu2, s2_rot) == pytest.approx(
      _gaussian_fd(mu1, s1, mu2, s2_rot), rel=1e-9)


def test_fd_of_large_samples_matches_closed_form():
  rng = np.random.default_rng(3)
  mu1, mu2 = np.zeros(3), np.array([1.0, 0.0, 0.0])
  s1, s2 = np.diag([1.0, 1.0, 1.0]), np.diag([4.0, 1.0, 0.25])
  x = rng.multivariate_normal(mu1, s1, size=200_000)
  y = rng.multivariate_normal(mu2, s2, size=200_000)
  expected = 1.0 + (1 - 2) ** 2 + 0 + (1 - 0.5) ** 2
  assert metrics.frechet_distance(x, y) == pytest.approx(expected, abs=0.03)


def test_fd_matches_scipy_sqrtm_on_random_data():
  rng = np.random.default_rng(4)
  x = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20))
  y = rng.normal(size=(400, 20)) @ rng.normal(size=(20, 20)) + 0.5
  expected = _gaussian_fd(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
  assert metrics.frechet_distance(x, y) == pytest.approx(expected, rel=1e-6)


def test_fd_rank_deficient_covariance_is_finite_and_real():
  rng = np.random.default_rng(5)
  x = rng.normal(size=(10, 32))  # N < F: singular Σ
  y = rng.normal(size=(10, 32))
  value = metrics.frechet_distance(x, y)
  assert np.isfinite(value) and value > 0


# --------------------------------------------------------------------------------------------
# KID.


def test_kid_identical_near_zero_and_shift_positive():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(600, 8))
  same, _ = metrics.kernel_inception_distance(x, x, num_subsets=20, subset_size=300)
  small, small_std = metrics.kernel_inception_distance(x, x + 0.3, num_subsets=20,
                                                       subset_size=300)
  shifted, _ = metrics.kernel_inception_distance(x, x + 1.0, num_subsets=20, subset_size=300)
  # Subsets of one finite set overlap, and a shared point enters k(x, x) into the cross term
  # only, so the mean sits slightly below 0; it is tiny against any real shift.
  assert abs(same) < 0.05
  assert small > 5 * small_std and small > 5 * abs(same)
  assert shifted > 100 * abs(same)


def test_kid_is_unbiased_for_equal_distributions():
  rng = np.random.default_rng(1)
  estimates = [
      metrics.kernel_inception_distance(
          rng.normal(size=(200, 4)), rng.normal(size=(200, 4)), num_subsets=5, subset_size=200,
          seed=s)[0]
      for s in range(20)]
  # The biased (V-statistic) estimator is strictly positive; the unbiased one scatters about 0.
  assert min(estimates) < 0 < max(estimates)
  assert abs(np.mean(estimates)) < 2 * np.std(estimates) / np.sqrt(len(estimates)) + 1e-3


def test_kid_caps_subset_size_at_sample_counts():
  rng = np.random.default_rng(2)
  mean, std = metrics.kernel_inception_distance(rng.normal(size=(30, 4)),
                                                rng.normal(size=(50, 4)) + 2, subset_size=1000,
                                                num_subsets=3)
  assert np.isfinite(mean) and mean > 0 and std >= 0


# --------------------------------------------------------------------------------------------
# Inception score.


def test_inception_score_confident_uniform_is_num_classes():
  k = 7
  probs = np.eye(k)[np.arange(70) % k]
  mean, std = metrics.inception_score(probs, num_splits=10)
  assert mean == pytest.approx(k, rel=1e-9) and std < 1e-9


def test_inception_score_identical_predictions_is_one():
  probs = np.tile([0.2, 0.5, 0.3], (100, 1))
  mean, _ = metrics.inception_score(probs, num_splits=4)
  assert mean == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------------------------
# Precision / recall / density / coverage.


def test_manifold_metrics_identical_sets():
  x = np.random.default_rng(0).normal(size=(300, 5))
  pr, dc = metrics.precision_recall(x, x, k=3), metrics.density_coverage(x, x, k=3)
  assert pr == {"precision": 1.0, "recall": 1.0}
  assert dc["coverage"] == 1.0 and dc["density"] >= 1.0  # each point lies in ≥ k+1 balls


def test_manifold_metrics_far_apart_sets():
  rng = np.random.default_rng(1)
  real, fake = rng.normal(size=(200, 4)), rng.normal(size=(150, 4)) + 100.0
  assert metrics.precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}
  assert metrics.density_coverage(real, fake) == {"density": 0.0, "coverage": 0.0}


def test_manifold_metrics_hand_counted():
  # Reals on a line at 0, 1, 2, 3: with k=1 each radius is 1.
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  # Fakes at 0.5 (inside the balls of reals 0 and 1), 2.9 (balls of reals 2 and 3) and 10 (none).
  # Fake radii with k=1: 2.4, 2.4, 7.1.
  fake = np.array([[0.5], [2.9], [10.0]])
  pr = metrics.precision_recall(real, fake, k=1)
  assert pr["precision"] == pytest.approx(2 / 3)
  assert pr["recall"] == 1.0  # every real is within 2.4 of 0.5 or 2.9
  dc = metrics.density_coverage(real, fake, k=1)
  assert dc["density"] == pytest.approx((2 + 2 + 0) / (1 * 3))
  # Nearest fake to each real: 0.5, 0.5, 0.9, 0.1, all ≤ 1.
  assert dc["coverage"] == 1.0
  real2 = np.array([[0.0], [4.0], [8.0], [12.0]])  # radii 4 each (k=1)
  fake2 = np.array([[0.0], [0.1], [20.0]])
  dc2 = metrics.density_coverage(real2, fake2, k=1)
  # Only real 0 (dist 0) and real 4 (dist 3.9 ≤ 4) have a fake in their ball.
  assert dc2["coverage"] == pytest.approx(2 / 4)


def test_knn_radii_excludes_self_and_works_across_chunks(monkeypatch):
  """The k-th nearest *other* row, also when the distances come in blocks of 7 rows."""
  blocks = []

  def chunked(a, b, chunk=None, original=metrics._chunked_sq_dists):
    for rows, d in original(a, b, chunk=7):
      blocks.append(rows)
      yield rows, d

  monkeypatch.setattr(metrics, "_chunked_sq_dists", chunked)
  x = np.random.default_rng(2).normal(size=(50, 3))
  d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
  expected = np.sort(d, 1)[:, 2] ** 2  # 2nd nearest other point
  got = metrics.knn_sq_radii(x, 2)
  assert len(blocks) == 8 and blocks[-1] == slice(49, 50)  # 7 blocks of 7 and one of 1
  np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------
# 2-D mixtures.


def test_mode_metrics_all_ring_modes():
  pts, _ = sources.sample_mog("mog_ring", 4000, seed=0)
  centers, std = sources.mog_centers("mog_ring")
  m = metrics.mode_metrics(pts, centers, std)
  assert m["modes_captured"] == 8 and m["num_modes"] == 8
  # In 2-D, ‖x - μ‖²/σ² ~ χ²₂, so P(within 3σ) = 1 - exp(-9/2) ≈ 0.989.
  assert m["high_quality_fraction"] == pytest.approx(1 - np.exp(-4.5), abs=0.006)
  assert m["mode_kl"] < 0.01


def test_mode_metrics_three_modes():
  centers, std = sources.mog_centers("mog_ring")
  rng = np.random.default_rng(0)
  modes = rng.integers(0, 3, 3000)
  pts = centers[modes] + std * rng.standard_normal((3000, 2))
  m = metrics.mode_metrics(pts, centers, std)
  assert m["modes_captured"] == 3
  assert m["mode_kl"] == pytest.approx(np.log(8 / 3), abs=0.02)


def test_mode_metrics_far_points():
  centers, std = sources.mog_centers("mog_grid")
  m = metrics.mode_metrics(np.full((100, 2), 50.0), centers, std)
  assert m["high_quality_fraction"] == 0.0 and m["modes_captured"] == 0
  assert m["mode_kl"] == pytest.approx(np.log(25))


def test_mode_metrics_fair_share_threshold():
  # 25 modes, 1000 samples: a mode needs ≥ 1000/25/5 = 8 samples.
  centers, std = sources.mog_centers("mog_grid")
  counts = np.array([8, 7] + [0] * 23)
  counts[2] = 1000 - counts.sum()
  pts = np.repeat(centers, counts, axis=0)
  assert metrics.mode_metrics(pts, centers, std)["modes_captured"] == 2


# --------------------------------------------------------------------------------------------
# Diversity and conditioning.


def test_mean_pairwise_distance():
  assert metrics.mean_pairwise_distance(np.ones((20, 3))) == pytest.approx(0.0, abs=1e-6)
  # Two points at distance 5: every distinct pair of {a, a, b, b} → 4 of 6 pairs at 5.
  x = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [3.0, 4.0]])
  assert metrics.mean_pairwise_distance(x) == pytest.approx(5.0 * 4 / 6, rel=1e-6)
  big = np.random.default_rng(0).normal(size=(3000, 2))
  assert metrics.mean_pairwise_distance(big, max_n=500) == pytest.approx(np.sqrt(np.pi), rel=0.1)


def test_class_histogram_and_conditional_accuracy():
  np.testing.assert_allclose(metrics.class_histogram([0, 0, 2, 3], 4), [0.5, 0.0, 0.25, 0.25])
  assert metrics.conditional_accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
  with pytest.raises(ValueError):
    metrics.conditional_accuracy([1, 2], [1])
