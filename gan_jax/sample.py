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


def load_run(workdir: str):
  """(experiment, canonical state, step) of the latest readable checkpoint in ``workdir``."""
  from gan_jax import checkpointing, experiment

  config = experiment.load_workdir_config(workdir)
  exp = experiment.build(config, num_devices=1)  # inference runs on one device
  restored = None
  if checkpointing.has_checkpoints(workdir):
    ckpt = checkpointing.Checkpointer(workdir, max_to_keep=config.train.keep_checkpoints)
    restored = ckpt.restore_latest(exp.init_state())
    ckpt.close()
  if restored is None:
    raise ConfigError(f"--workdir={workdir!r} holds no checkpoint yet")
  state, step = restored
  return exp, state, step


def draw_samples(exp, state, num: int, seed: int) -> dict:
  """{'images' or 'samples': ..., 'labels': ...} for ``num`` samples."""
  from gan_jax import sampling

  z, labels = sampling.fixed_latents(seed, num, exp.config.model.z_dim, exp.num_classes)
  fn = sampling.make_generate_fn(exp.generator)
  x = sampling.generate(fn, state, z, labels, use_ema=exp.config.ema_decay > 0)
  out = {"images" if exp.dataset.is_image else "samples": x}
  if labels is not None:
    out["labels"] = np.asarray(labels, np.int32)
  return out


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.workdir:
    cli.fail("--workdir is required")
  if FLAGS.num <= 0:
    cli.fail(f"--num={FLAGS.num} must be a positive integer")
  try:
    exp, state, step = load_run(FLAGS.workdir)
  except ConfigError as e:
    cli.fail(str(e))
  out = draw_samples(exp, state, FLAGS.num, FLAGS.seed)
  tmp = FLAGS.out + ".tmp.npz"
  np.savez(tmp, **out)
  os.replace(tmp, FLAGS.out)
  print(f"wrote {FLAGS.num} samples of step {step} to {FLAGS.out}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
