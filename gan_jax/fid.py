"""Inception metrics that papers quote: FID, KID, IS, precision/recall and density/coverage.

  python -m gan_jax.fid A B [--inception_weights=W] [--num=N] [--save_stats=OUT.npz]

A is the reference set (e.g. a dataset), B the evaluated one (e.g. samples). Each is an ``.npz``
with ``images`` (N, H, W, C) in [-1, 1] (what ``gan_jax.sample`` writes), a dataset name that
gan_jax loads (its train split), or statistics written by ``--save_stats``. One JSON line is
printed: fid, kid_mean, kid_std, is_mean, is_std (of B), precision, recall, density, coverage,
n_a, n_b. ``--save_stats=OUT.npz`` writes A's μ, Σ, pool3 features and IS logits, so that a
dataset's reference statistics are computed once.

All metrics live in the pool3 space of pytorch-fid's FID Inception (``gan_jax.inception``):
FID = Fréchet distance of Gaussians fitted to pool3 (TF-GAN's formula); KID = unbiased MMD² with
the cubic kernel over 100 subsets of 1000; IS = exp E KL(p(y|x) ‖ p(y)) over 10 splits, p the
softmax of the 1008 logits without the fc bias (as TF's original IS code and torch-fidelity);
precision/recall with k = 3 (Kynkäänniemi et al.); density/coverage with k = 5 (Naeem et al.).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re

import numpy as np
from absl import app, flags
from scipy import special

from gan_jax import cli, rng
from gan_jax.errors import ConfigError
from gan_jax.evaluation import metrics

PROTOCOL = ("pytorch-fid pt_inception-2015-12-05 pool3; input (x+1)/2 bilinearly resized to "
            "299x299 (half-pixel centres, no antialias), then 2u-1")
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
IS_SPLITS = 10
PR_K, DC_K = 3, 5
KNN_NUM = 10000  # rows per set for the k-NN metrics, whose cost is quadratic in it
STATS_KEYS = ("mu", "sigma", "features", "logits", "protocol", "weights_sha256")


@dataclasses.dataclass
class InceptionStats:
  """A set's pool3 features (N, 2048), IS logits (N, 1008) and their Gaussian (μ, Σ)."""

  features: np.ndarray
  logits: np.ndarray
  mu: np.ndarray
  sigma: np.ndarray
  weights_sha256: str = ""

  @classmethod
  def of_images(cls, feature_fn, images) -> InceptionStats:
    """Runs ``feature_fn`` (an ``inception.InceptionFeatures``) over images in [-1, 1]."""
    features, logits = feature_fn.outputs(images)
    return cls(features, logits, *metrics.feature_stats(features),
               weights_sha256=feature_fn.weights_sha256)

  def save(self, path: str) -> None:
    tmp = path + ".tmp.npz"
    np.savez(tmp, mu=self.mu, sigma=self.sigma, features=self.features, logits=self.logits,
             protocol=np.array(PROTOCOL), weights_sha256=np.array(self.weights_sha256))
    os.replace(tmp, path)

  @classmethod
  def load(cls, path: str, arrays=None, *, label: str = "stats") -> InceptionStats:
    """Statistics written by ``save``; ConfigError when they follow another protocol."""
    arrays = np.load(path, allow_pickle=False) if arrays is None else arrays
    missing = [k for k in STATS_KEYS if k not in arrays]
    if missing:
      raise ConfigError(f"{label}={path!r} lacks {missing}; statistics files are written by "
                        "python -m gan_jax.fid A B --save_stats=OUT.npz")
    if str(arrays["protocol"]) != PROTOCOL:
      raise ConfigError(f"{label}={path!r} was computed with another protocol "
                        f"({str(arrays['protocol'])[:60]!r}); its FIDs are not comparable")
    return cls(arrays["features"], arrays["logits"], arrays["mu"], arrays["sigma"],
               str(arrays["weights_sha256"]))


def _knn_subset(x: np.ndarray, num: int, seed: int) -> np.ndarray:
  if len(x) <= num:
    return x
  return x[np.sort(np.random.default_rng(seed).choice(len(x), num, replace=False))]


def inception_metrics(ref: InceptionStats, gen: InceptionStats, *, knn_num: int = KNN_NUM,
                      seed: int = 0) -> dict:
  """FID, KID, IS (of ``gen``), precision/recall, density/coverage, n_a, n_b as a flat dict."""
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
  probs = special.softmax(np.asarray(gen.logits, np.float64), axis=1)
  out["is_mean"], out["is_std"] = metrics.inception_score(probs, IS_SPLITS)
  real = _knn_subset(ref.features, knn_num, seed)
  fake = _knn_subset(gen.features, knn_num, seed + 1)
  out.update(metrics.precision_recall(real, fake, k=PR_K))
  out.update(metrics.density_coverage(real, fake, k=DC_K))
  out.update(n_a=len(ref.features), n_b=len(gen.features))
  return out


def subset(x: np.ndarray, num: int, seed: int) -> np.ndarray:
  """The first ``num`` rows of a seeded permutation of x (all of x when num is 0 or ≥ N)."""
  if not num or num >= len(x):
    return x
  return x[np.random.default_rng(seed).permutation(len(x))[:num]]


# --------------------------------------------------------------------------------------------
# Runs: gan_jax.evaluate --features=inception and the trainer's periodic eval.

_EXTRACTORS: dict = {}


def get_extractor(weights_path: str | None = None, cache_dir: str | None = None):
  """``inception.load(...)``, once per process for each weights file."""
  from gan_jax.evaluation import inception

  path = inception.resolve_weights(weights_path, cache_dir=cache_dir)
  if path not in _EXTRACTORS:
    _EXTRACTORS[path] = inception.load(path)
  return _EXTRACTORS[path]


def _reference_path(dataset, num: int, seed: int, weights_sha256: str, cache_dir) -> str:
  """<cache root>/inception/stats/<name>-<sha1 of protocol, weights, num, seed, data sample>."""
  from gan_jax.evaluation.classifier import cache_root

  h = hashlib.sha1(f"{PROTOCOL} {weights_sha256} num={num} seed={seed}".encode())
  x = dataset.train_x
  h.update(f"{x.shape}{x.dtype}".encode())
  h.update(np.ascontiguousarray(x[::max(len(x) // 256, 1)]).tobytes())
  safe = re.sub(r"[^A-Za-z0-9_.-]", "_", dataset.name)
  return os.path.join(cache_root(cache_dir), "inception", "stats",
                      f"{safe}-{h.hexdigest()[:16]}.npz")


def reference_stats(dataset, feature_fn, *, num: int, seed: int = 0,
                    cache_dir: str | None = None) -> InceptionStats:
  """Statistics of ``num`` train images (seeded subset), cached on disk after the first call."""
  path = _reference_path(dataset, num, seed, feature_fn.weights_sha256, cache_dir)
  if os.path.isfile(path):
    try:
      return InceptionStats.load(path)
    except (ConfigError, OSError, ValueError, KeyError):
      pass  # an unreadable cache entry is recomputed
  stats = InceptionStats.of_images(feature_fn, subset(dataset.train_x, num, seed))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  stats.save(path)
  return stats


def evaluate_run(exp, state, *, num: int, seed: int = 0, weights_path: str | None = None,
                 cache_dir: str | None = None, feature_fn=None) -> dict:
  """The Inception metrics of ``num`` samples of a run against ``num`` train images."""
  from gan_jax.evaluation import sampling

  if not exp.dataset.is_image:
    raise ConfigError(f"features='inception' needs an image dataset; data.name="
                      f"{exp.dataset.name!r} holds 2-D points")
  feature_fn = feature_fn or get_extractor(weights_path, cache_dir)
  ref = reference_stats(exp.dataset, feature_fn, num=num, seed=seed, cache_dir=cache_dir)
  # The same latents as the classifier metrics (gan_jax.rng's eval stream).
  fake = sampling.draw_samples(exp, state, num, rng.streams(seed).eval)["images"]
  gen = InceptionStats.of_images(feature_fn, fake)
  return {"num": int(num), "features": "inception", **inception_metrics(ref, gen, seed=seed)}


# --------------------------------------------------------------------------------------------
# The command line.

FLAGS = flags.FLAGS


def _define_flags():
  flags.DEFINE_string("inception_weights", None, "pytorch-fid's pt_inception-2015-12-05-"
                      "6726825d.pth (default $GAN_JAX_INCEPTION_WEIGHTS, then the cache).")
  flags.DEFINE_integer("num", 0, "Images per set: a seeded random subset (0 = all). Statistics "
                       "files are used whole.")
  flags.DEFINE_integer("seed", 0, "Seed of the subsets.")
  flags.DEFINE_string("save_stats", None, "Write A's statistics to this .npz.")
  flags.DEFINE_integer("batch_size", 200, "Images per Inception forward pass (all devices).")
  flags.DEFINE_string("cache_dir", None, "Cache root of the weights file (default "
                      "$GAN_JAX_CACHE or ~/.cache/gan_jax).")


def read_source(spec: str, label: str):
  """('stats', InceptionStats) or ('images', (N, H, W, C) float32 in [-1, 1]) for A or B."""
  if spec.endswith(".npz") or os.path.exists(spec):
    if not os.path.isfile(spec):
      raise ConfigError(f"{label}={spec!r} does not exist or is not a file")
    try:
      arrays = dict(np.load(spec, allow_pickle=False))
    except Exception:  # noqa: BLE001 - numpy's reasons vary; the file is what matters
      raise ConfigError(f"{label}={spec!r} is not a readable .npz file") from None
    if "mu" in arrays:
      return "stats", InceptionStats.load(spec, arrays, label=label)
    if "images" not in arrays:
      raise ConfigError(f"{label}={spec!r} has keys {sorted(arrays)}; expected 'images' "
                        "(gan_jax.sample's output) or statistics from --save_stats")
    images = arrays["images"]
  else:
    from gan_jax import configs
    from gan_jax.data import datasets as data

    data_config = configs.base_config().data
    data_config.name = spec
    try:
      images = data.load_dataset(data_config).train_x
    except ConfigError as e:
      raise ConfigError(f"{label}={spec!r} is neither an .npz file nor a dataset gan_jax "
                        f"loads ({e})") from None
  if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) < 2:
    raise ConfigError(f"{label}={spec!r}: images must have shape (N >= 2, H, W, 1 or 3), got "
                      f"{images.shape}")
  lo, hi = float(images.min()), float(images.max())
  if lo < -1.001 or hi > 1.001:
    raise ConfigError(f"{label}={spec!r}: images must lie in [-1, 1] (gan_jax's convention), "
                      f"got [{lo:.4g}, {hi:.4g}]")
  return "images", images


def main(argv):
  if len(argv) != 3:
    cli.fail("usage: python -m gan_jax.fid A B [--inception_weights=W] [--num=N] "
             "[--save_stats=OUT.npz]")
  if FLAGS.num < 0 or FLAGS.batch_size < 1:
    cli.fail(f"--num={FLAGS.num} must be >= 0 and --batch_size={FLAGS.batch_size} >= 1")
  from gan_jax.evaluation import inception

  try:
    sources = [read_source(spec, label) for spec, label in zip(argv[1:], "AB", strict=True)]
    feature_fn = None
    stats = []
    for kind, value in sources:
      if kind == "images":
        if feature_fn is None:
          path = inception.resolve_weights(FLAGS.inception_weights, cache_dir=FLAGS.cache_dir)
          feature_fn = inception.load(path, batch_size=FLAGS.batch_size)
        value = InceptionStats.of_images(feature_fn, subset(value, FLAGS.num, FLAGS.seed))
      stats.append(value)
    result = inception_metrics(*stats, seed=FLAGS.seed)
  except ConfigError as e:
    cli.fail(str(e))
  if FLAGS.save_stats:
    stats[0].save(FLAGS.save_stats)
  print(json.dumps(result), flush=True)


if __name__ == "__main__":
  _define_flags()
  app.run(main, flags_parser=cli.parse_flags)
