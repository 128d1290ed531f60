"""Writes samples of a run's latest checkpoint (or of checkpoint --step) to an .npz file.

  python -m gan_jax.sample --workdir=runs/cgan --num=1000 --out=samples.npz [--seed=0] [--step=N]
      [--truncation=0.7]  (StyleGAN2 runs: the truncation trick with the tracked mean of w)

The file holds ``images`` (N, H, W, C) float32 in [-1, 1] (or ``samples`` (N, 2) for 2-D data)
and, for conditional runs, ``labels`` with label i % num_classes for sample i. The EMA generator is
used when the run keeps one.

  python -m gan_jax.sample --workdir=runs/vae_mnist --reconstruct=IN.npz --out=recon.npz

With ``--reconstruct`` (runs whose game has an encoder: vae, vaegan) it writes instead
``images``: Dec(μ(x)) of every image x of IN.npz's ``images`` (or ``x_test``), and ``inputs``: x.
"""

from __future__ import annotations

import inspect

from absl import app, flags

from gan_jax import cli
from gan_jax.training import workdir

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run directory written by gan_jax.main.")
flags.DEFINE_integer("num", 1000, "Number of samples.")
flags.DEFINE_string("out", "samples.npz", "Output .npz path.")
flags.DEFINE_integer("seed", 0, "Seed of the latent draws.")
flags.DEFINE_float("truncation", 1.0, "Truncation ψ of games that support it (stylegan2): "
                   "w ← w̄ + ψ(w - w̄); 1 = none.")
flags.DEFINE_integer("step", None, "Checkpoint step to sample (default: the latest); "
                     "train.keep_checkpoints says how many steps a run keeps.")
flags.DEFINE_string("reconstruct", None, "An .npz of images (key 'images' or 'x_test', NHWC in "
                    "[-1, 1]) to reconstruct, for runs with an encoder (game vae, vaegan).")


def main(argv):
  exp, state, step = cli.load_run_from_flags(argv, FLAGS, min_num=1, step=FLAGS.step)
  if FLAGS.reconstruct:
    return _reconstruct(exp, state, step)
  kwargs = {} if FLAGS.truncation == 1.0 else {"truncation": FLAGS.truncation}
  if kwargs and "truncation" not in inspect.signature(exp.game.samples).parameters:
    cli.fail(f"--truncation applies to game='stylegan2' runs, not {exp.game.name!r}")
  out = exp.game.samples(state, num=FLAGS.num, seed=FLAGS.seed, **kwargs)
  workdir.write_atomic(FLAGS.out, lambda tmp: workdir.savez(tmp, **out))
  print(f"wrote {FLAGS.num} samples of step {step} to {FLAGS.out}")


def _reconstruct(exp, state, step):
  import numpy as np

  if not hasattr(exp.game, "reconstruct"):
    cli.fail(f"--reconstruct needs a run with an encoder (game vae or vaegan); "
             f"{FLAGS.workdir!r} plays game={exp.game.name!r}")
  try:
    with np.load(FLAGS.reconstruct) as f:
      key = next((k for k in ("images", "x_test") if k in f.files), None)
      if key is None:
        cli.fail(f"--reconstruct={FLAGS.reconstruct!r} holds no 'images' or 'x_test' array; "
                 f"it has: {', '.join(f.files)}")
      x = np.asarray(f[key], np.float32)
  except OSError as e:
    cli.fail(f"--reconstruct={FLAGS.reconstruct!r}: {e}")
  if x.shape[1:] != tuple(exp.dataset.example_shape):
    cli.fail(f"--reconstruct={FLAGS.reconstruct!r}: images of shape {x.shape[1:]}, the run's "
             f"are {tuple(exp.dataset.example_shape)}")
  out = {"images": exp.game.reconstruct(state, x), "inputs": x}
  workdir.write_atomic(FLAGS.out, lambda tmp: workdir.savez(tmp, **out))
  print(f"wrote {len(x)} reconstructions of step {step} to {FLAGS.out}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
