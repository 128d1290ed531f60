"""Inception metrics that papers quote: FID, KID, IS, precision/recall and density/coverage.

  python -m gan_jax.fid A B [--inception_weights=W] [--num=N] [--save_stats=OUT.npz]

A is the reference set (e.g. a dataset), B the evaluated one (e.g. samples). Each is an ``.npz``
with ``images`` (N, H, W, C) in [-1, 1] (what ``gan_jax.sample`` writes), a dataset name that
gan_jax loads (its train split), or statistics written by ``--save_stats``. One JSON line is
printed: fid, kid_mean, kid_std, is_mean, is_std (of B), precision, recall, density, coverage,
n_a, n_b. ``--save_stats=OUT.npz`` writes A's μ, Σ, pool3 features and IS logits, so that a
dataset's reference statistics are computed once.

The metrics and what they mean: ``gan_jax.evaluation.fid``.
"""


from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags

from gan_jax import cli
from gan_jax.errors import ConfigError
from gan_jax.evaluation.fid import InceptionStats, inception_metrics, subset

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
