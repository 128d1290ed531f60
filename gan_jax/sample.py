"""Writes samples of a run's latest checkpoint (or of checkpoint --step) to an .npz file.

  python -m gan_jax.sample --workdir=runs/cgan --num=1000 --out=samples.npz [--seed=0] [--step=N]

The file holds ``images`` (N, H, W, C) float32 in [-1, 1] (or ``samples`` (N, 2) for 2-D data)
and, for conditional runs, ``labels`` with label i % num_classes for sample i. The EMA generator is
used when the run keeps one.

Image-to-image runs (game 'pix2pix' or 'cyclegan') translate instead:

  python -m gan_jax.sample --workdir=runs/pix2pix_sr --input=A.npz --out=B.npz [--direction=a2b]

reads ``images`` (N, H, W, C) in [-1, 1] of the direction's input domain from --input and writes
their translations as ``images`` in the same convention (without --input: the first --num test
images, as ``inputs``, and their translations).
"""

from __future__ import annotations

from absl import app, flags

from gan_jax import cli
from gan_jax.errors import ConfigError
from gan_jax.training import workdir

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run directory written by gan_jax.main.")
flags.DEFINE_integer("num", 1000, "Number of samples.")
flags.DEFINE_string("out", "samples.npz", "Output .npz path.")
flags.DEFINE_integer("seed", 0, "Seed of the latent draws.")
flags.DEFINE_string("input", None, "Image-to-image runs: an .npz whose `images` (N, H, W, C) "
                    "in [-1, 1] are translated.")
flags.DEFINE_enum("direction", "a2b", ["a2b", "b2a"], "Image-to-image runs: a2b or (CycleGAN) "
                  "b2a.")
flags.DEFINE_integer("step", None, "Checkpoint step to sample (default: the latest); "
                     "train.keep_checkpoints says how many steps a run keeps.")


def main(argv):
  exp, state, step = cli.load_run_from_flags(argv, FLAGS, min_num=1, step=FLAGS.step)
  translating = exp.config.get("game", "gan") in ("pix2pix", "cyclegan")
  if not translating and (FLAGS.input or FLAGS["direction"].present):
    cli.fail(f"--input and --direction apply to pix2pix and cyclegan runs, not game="
             f"{exp.config.get('game', 'gan')!r}")
  kwargs = {"input": _read_images(FLAGS.input)} if FLAGS.input else {}
  if translating:
    kwargs["direction"] = FLAGS.direction
  try:
    out = exp.game.samples(state, num=FLAGS.num, seed=FLAGS.seed, **kwargs)
  except ConfigError as e:
    cli.fail(f"--input={FLAGS.input}: {e}" if FLAGS.input else str(e))
  workdir.write_atomic(FLAGS.out, lambda tmp: workdir.savez(tmp, **out))
  num = len(next(iter(out.values())))
  print(f"wrote {num} {'translations' if translating else 'samples'} of step {step} to "
        f"{FLAGS.out}")


def _read_images(path: str):
  """The ``images`` array of the .npz at ``path``; one line and exit 2 otherwise."""
  import numpy as np

  try:
    with np.load(path, allow_pickle=False) as f:
      if "images" not in f.files:
        cli.fail(f"--input={path} has no `images` array (it has: {', '.join(f.files) or 'none'})")
      return f["images"]
  except (OSError, ValueError, TypeError) as e:
    cli.fail(f"--input={path} is not a readable .npz ({type(e).__name__})")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
