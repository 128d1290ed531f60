"""Sample-quality metrics: pure functions of feature arrays, labels or 2-D points (numpy, float64).

Image metrics take features from any ``feature_fn(images) -> (N, F)``: on MNIST-like data the
in-project classifier (``classifier``), making the Fréchet distance a Fréchet *Classifier*
Distance (reported as ``fcd``); on a host with real Inception weights, Inception pool features.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import special

# Rows of the first operand per block of pairwise distances: (2048 x N) float64 blocks keep a
# 10k x 10k comparison at ~160 MB peak rather than 800 MB.
_DISTANCE_CHUNK = 2048


def _as_float64_2d(x, name: str) -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f"{name} must have shape (N, F), got {x.shape}")
  return x


# --------------------------------------------------------------------------------------------
# Fréchet distance.


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
  """Symmetric PSD square root V diag(√max(λ, 0)) Vᵀ of the symmetrised matrix."""
  w, v = np.linalg.eigh((m + m.T) / 2)
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def feature_stats(feats) -> tuple[np.ndarray, np.ndarray]:
  """(μ, Σ) in float64, Σ the unbiased (ddof=1) covariance of the rows."""
  feats = _as_float64_2d(feats, "feats")
  if len(feats) < 2:
    raise ValueError(f"need at least 2 samples for a covariance, got {len(feats)}")
  return feats.mean(0), np.cov(feats, rowvar=False)


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
  """‖μ1 - μ2‖² + tr Σ1 + tr Σ2 - 2 tr √(A Σ2 A), A = √Σ1.

  tr √(A Σ2 A) = tr √(Σ1 Σ2) (the two matrices are similar), but A Σ2 A is symmetric PSD, so its
  eigenvalues (clipped at 0 against round-off) give a real trace without a general sqrtm.
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
    raise ValueError(
        f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs "
        f"{sigma2.shape}")
  a = _sqrtm_psd(sigma1)
  inner = a @ sigma2 @ a
  eigvals = np.linalg.eigvalsh((inner + inner.T) / 2)
  tr_covmean = np.sum(np.sqrt(np.clip(eigvals, 0.0, None)))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance(feats_a, feats_b) -> float:
  """Fréchet distance between Gaussians fitted to two feature sets (TF-GAN's FID formula)."""
  return frechet_distance_from_stats(*feature_stats(feats_a), *feature_stats(feats_b))


# --------------------------------------------------------------------------------------------
# Kernel Inception distance.


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """k(x, y) = (x·y / d + 1)³."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD²: mean_{i≠j} k(xi,xj) + mean_{i≠j} k(yi,yj) - 2 mean_{i,j} k(xi,yj)."""
  m, n = len(x), len(y)
  k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
  xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(xx + yy - 2.0 * k_xy.mean())


def kernel_inception_distance(feats_a, feats_b, *, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """(mean, std) over random subsets of the unbiased MMD² with the cubic polynomial kernel.

  Each subset draws ``min(subset_size, N_a, N_b)`` rows of each set without replacement
  (Bińkowski et al. 2018). The estimator is unbiased, so equal distributions give values
  scattered around 0, negative ones included.
  """
  a, b = _as_float64_2d(feats_a, "feats_a"), _as_float64_2d(feats_b, "feats_b")
  if a.shape[1] != b.shape[1]:
    raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
  m = min(subset_size, len(a), len(b))
  if m < 2:
    raise ValueError(f"need at least 2 samples per set, got {len(a)} and {len(b)}")
  rng = np.random.default_rng(seed)
  values = np.array([
      _unbiased_mmd2(a[rng.choice(len(a), m, replace=False)],
                     b[rng.choice(len(b), m, replace=False)])
      for _ in range(num_subsets)])
  return float(values.mean()), float(values.std())


# --------------------------------------------------------------------------------------------
# Inception score.


def inception_score(class_probs, num_splits: int = 10) -> tuple[float, float]:
  """(mean, std) over splits of exp(E_x KL(p(y|x) ‖ p(y))), p(y) the split's mean prediction.

  Uses xlogy so that zero probabilities contribute 0 (no log 0).
  """
  p = np.asarray(class_probs, np.float64)
  if p.ndim != 2:
    raise ValueError(f"class_probs must have shape (N, K), got {p.shape}")
  p = p / p.sum(1, keepdims=True)
  scores = []
  for part in np.array_split(p, min(num_splits, len(p))):
    marginal = part.mean(0, keepdims=True)
    kl = special.xlogy(part, part) - special.xlogy(part, marginal)
    scores.append(np.exp(kl.sum(1).mean()))
  return float(np.mean(scores)), float(np.std(scores))


# --------------------------------------------------------------------------------------------
# k-NN manifold metrics.


def _chunked_sq_dists(a: np.ndarray, b: np.ndarray, chunk: int = _DISTANCE_CHUNK
                      ) -> Iterator[tuple[slice, np.ndarray]]:
  """Yields (rows, ‖a[rows]_i - b_j‖²) blocks, computed as ‖a‖² + ‖b‖² - 2 a·b clipped at 0."""
  b_sq = np.einsum("ij,ij->i", b, b)
  for start in range(0, len(a), chunk):
    rows = slice(start, min(start + chunk, len(a)))
    a_rows = a[rows]
    a_sq = np.einsum("ij,ij->i", a_rows, a_rows)
    yield rows, np.maximum(a_sq[:, None] + b_sq[None, :] - 2.0 * a_rows @ b.T, 0.0)


def knn_sq_radii(feats, k: int) -> np.ndarray:
  """Squared distance from each row to its k-th nearest other row (the row itself excluded)."""
  x = _as_float64_2d(feats, "feats")
  if not 0 < k < len(x):
    raise ValueError(f"k={k} must be in [1, N-1] for N={len(x)} samples")
  radii = np.empty(len(x))
  for rows, d in _chunked_sq_dists(x, x):
    # Index 0 of the sorted row is the point itself (distance 0); index k is the k-th other.
    radii[rows] = np.partition(d, k, axis=1)[:, k]
  return radii


def _ball_counts(queries: np.ndarray, centres: np.ndarray, sq_radii: np.ndarray) -> np.ndarray:
  """For each query q: #{j : ‖q - centre_j‖² ≤ r_j²}."""
  counts = np.empty(len(queries), np.int64)
  for rows, d in _chunked_sq_dists(queries, centres):
    counts[rows] = (d <= sq_radii[None, :]).sum(1)
  return counts


def _nearest_sq_dists(queries: np.ndarray, refs: np.ndarray) -> np.ndarray:
  """For each query q: min_j ‖q - ref_j‖²."""
  nearest = np.empty(len(queries))
  for rows, d in _chunked_sq_dists(queries, refs):
    nearest[rows] = d.min(1)
  return nearest


def precision_recall(real_feats, fake_feats, k: int = 5) -> dict[str, float]:
  """Improved precision and recall (Kynkäänniemi et al. 2019).

  precision = share of fakes inside the real manifold ∪_j B(r_j, NN_k(r_j));
  recall = share of reals inside the fake manifold ∪_j B(f_j, NN_k(f_j)).
  """
  real, fake = _as_float64_2d(real_feats, "real_feats"), _as_float64_2d(fake_feats, "fake_feats")
  fake_in_real = _ball_counts(fake, real, knn_sq_radii(real, k))
  real_in_fake = _ball_counts(real, fake, knn_sq_radii(fake, k))
  return {"precision": float(np.mean(fake_in_real > 0)),
          "recall": float(np.mean(real_in_fake > 0))}


def density_coverage(real_feats, fake_feats, k: int = 5) -> dict[str, float]:
  """Density and coverage (Naeem et al. 2020), with real k-NN balls B(r_i, NN_k(r_i)) only.

  density = 1/(k M) Σ_j Σ_i 1[f_j ∈ B(r_i)]  (≈ 1 for matching distributions, unbounded above);
  coverage = 1/N Σ_i 1[∃ j: f_j ∈ B(r_i)].
  """
  real, fake = _as_float64_2d(real_feats, "real_feats"), _as_float64_2d(fake_feats, "fake_feats")
  sq_radii = knn_sq_radii(real, k)
  counts = _ball_counts(fake, real, sq_radii)
  nearest_fake = _nearest_sq_dists(real, fake)
  return {"density": float(counts.sum() / (k * len(fake))),
          "coverage": float(np.mean(nearest_fake <= sq_radii))}


# --------------------------------------------------------------------------------------------
# 2-D mixtures of Gaussians.


def mode_metrics(samples, centers, std: float) -> dict[str, float]:
  """Mode coverage of 2-D samples against a mixture's K mode centres.

  A sample is high quality when within 3 std of its nearest centre, and then belongs to that
  mode. A mode is captured when it holds ≥ N/(5K) samples (a fifth of its fair share of all N).
  mode_kl = KL(p ‖ uniform) = Σ_k p_k log(K p_k), p the histogram of the high-quality samples
  over modes: 0 when balanced, log(K/m) when m modes share them evenly, at most log K. With no
  high-quality sample at all it is reported as log K, the value of a single mode.
  """
  x = _as_float64_2d(samples, "samples")
  c = _as_float64_2d(centers, "centers")
  num_modes = len(c)
  if not len(x):
    raise ValueError("mode_metrics needs at least one sample")
  sq = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
  nearest = sq.argmin(1)
  high_quality = sq[np.arange(len(x)), nearest] <= (3.0 * std) ** 2
  counts = np.bincount(nearest[high_quality], minlength=num_modes)
  captured = int(np.sum(counts >= len(x) / num_modes / 5.0))
  if counts.sum():
    p = counts / counts.sum()
    mode_kl = float(np.sum(special.xlogy(p, p * num_modes)))
  else:
    mode_kl = float(np.log(num_modes))
  return {"modes_captured": captured, "num_modes": num_modes,
          "high_quality_fraction": float(high_quality.mean()),
          "mode_kl": mode_kl}


# --------------------------------------------------------------------------------------------
# Diversity and conditioning.


def mean_pairwise_distance(feats, max_n: int = 2000, seed: int = 0) -> float:
  """Mean Euclidean distance over distinct pairs of (a random subset of ≤ max_n) rows.

  A collapsed generator gives near-identical samples and so a value near 0.
  """
  x = _as_float64_2d(feats, "feats")
  if len(x) > max_n:
    x = x[np.random.default_rng(seed).choice(len(x), max_n, replace=False)]
  n = len(x)
  if n < 2:
    raise ValueError(f"need at least 2 samples, got {n}")
  total = sum(np.sqrt(d).sum() for _, d in _chunked_sq_dists(x, x))
  return float(total / (n * (n - 1)))  # The diagonal contributes zeros.


def class_histogram(labels, num_classes: int) -> np.ndarray:
  """Share of the labels that fall in each class, shape (num_classes,), float64 (sums to 1)."""
  labels = np.asarray(labels).reshape(-1)
  counts = np.bincount(labels, minlength=num_classes)[:num_classes].astype(np.float64)
  return counts / max(len(labels), 1)


def conditional_accuracy(pred_labels, requested_labels) -> float:
  """Share of class-conditional samples that the classifier assigns the requested class."""
  pred, requested = np.asarray(pred_labels).reshape(-1), np.asarray(requested_labels).reshape(-1)
  if pred.shape != requested.shape:
    raise ValueError(f"label counts differ: {pred.shape} vs {requested.shape}")
  return float(np.mean(pred == requested))

