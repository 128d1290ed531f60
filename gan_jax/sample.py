"""Writes samples of a run's latest checkpoint to an .npz file.

  python -m gan_jax.sample --workdir=runs/cgan --num=1000 --out=samples.npz [--seed=0]

The file holds ``images`` (N, H, W, C) float32 in [-1, 1] (or ``samples`` (N, 2) for 2-D data)
and, for conditional runs, ``labels`` with label i % num_classes for sample i. The EMA generator is
used when the run keeps one.
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags

from gan_jax import cli
from gan_jax.errors import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run directory written by gan_jax.main.")
flags.DEFINE_integer("num", 1000, "Number of samples.")
flags.DEFINE_string("out", "samples.npz", "Output .npz path.")
flags.DEFINE_integer("seed", 0, "Seed of the latent draws.")


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.workdir:
    cli.fail("--workdir is required")
  if FLAGS.num <= 0:
    cli.fail(f"--num={FLAGS.num} must be a positive integer")
  from gan_jax import experiment, sampling

  try:
    exp, state, step = experiment.load_run(FLAGS.workdir)
  except ConfigError as e:
    cli.fail(str(e))
  out = sampling.draw_samples(exp, state, FLAGS.num, FLAGS.seed)
  tmp = FLAGS.out + ".tmp.npz"
  np.savez(tmp, **out)
  os.replace(tmp, FLAGS.out)
  print(f"wrote {FLAGS.num} samples of step {step} to {FLAGS.out}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
