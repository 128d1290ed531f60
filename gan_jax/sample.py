"""Writes samples of a run's latest checkpoint (or of checkpoint --step) to an .npz file.

  python -m gan_jax.sample --workdir=runs/cgan --num=1000 --out=samples.npz [--seed=0] [--step=N]
      [--truncation=0.7]  (StyleGAN2 runs: the truncation trick with the tracked mean of w)

StyleGAN2 runs also draw pictures of their latent spaces, as one PNG (``--truncation`` applies):

  python -m gan_jax.sample --workdir=runs/stylegan2_mnist --figure=style_mixing --out=mix.png

``style_mixing``: a 7x7 grid whose top row and left column are six latents' images and whose
cell (i, j) has row i's coarse styles (4x4 and 8x8) with column j's fine ones;
``interpolation_w`` / ``interpolation_z``: six rows of ten images from G(a) to G(b), along
lerp(w_a, w_b, t) in W / slerp(z_a, z_b, t) in Z.

The file holds ``images`` (N, H, W, C) float32 in [-1, 1] (or ``samples`` (N, 2) for 2-D data)
and, for conditional runs, ``labels`` with label i % num_classes for sample i. The EMA generator is
used when the run keeps one.

Image-to-image runs (game 'pix2pix' or 'cyclegan') translate instead:

  python -m gan_jax.sample --workdir=runs/pix2pix_sr --input=A.npz --out=B.npz [--direction=a2b]

reads ``images`` (N, H, W, C) in [-1, 1] of the direction's input domain from --input and writes
their translations as ``images`` in the same convention (without --input: the first --num test
images, as ``inputs``, and their translations).

  python -m gan_jax.sample --workdir=runs/vae_mnist --reconstruct=IN.npz --out=recon.npz

With ``--reconstruct`` (runs whose game has an encoder: vae, vaegan) it writes instead
``images``: Dec(μ(x)) of every image x of IN.npz's ``images`` (or ``x_test``), and ``inputs``: x.
"""

from __future__ import annotations

import inspect

from absl import app, flags

from gan_jax import cli, files
from gan_jax.errors import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run directory written by gan_jax.main.")
flags.DEFINE_integer("num", 1000, "Number of samples.")
flags.DEFINE_string("out", "samples.npz", "Output .npz path.")
flags.DEFINE_integer("seed", 0, "Seed of the latent draws.")
flags.DEFINE_float("truncation", 1.0, "Truncation ψ of games that support it (stylegan2): "
                   "w ← w̄ + ψ(w - w̄); 1 = none.")
flags.DEFINE_string("input", None, "Image-to-image runs: an .npz whose `images` (N, H, W, C) "
                    "in [-1, 1] are translated.")
flags.DEFINE_enum("direction", "a2b", ["a2b", "b2a"], "Image-to-image runs: a2b or (CycleGAN) "
                  "b2a.")
flags.DEFINE_integer("step", None, "Checkpoint step to sample (default: the latest); "
                     "train.keep_checkpoints says how many steps a run keeps.")
flags.DEFINE_enum("figure", None, ["style_mixing", "interpolation_w", "interpolation_z"],
                  "StyleGAN2 runs: write this picture to --out as a PNG instead of samples.")
flags.DEFINE_string("reconstruct", None, "An .npz of images (key 'images' or 'x_test', NHWC in "
                    "[-1, 1]) to reconstruct, for runs with an encoder (game vae, vaegan).")


def main(argv):
  exp, state, step = cli.load_run_from_flags(argv, FLAGS, min_num=1, step=FLAGS.step)
  if FLAGS.reconstruct:
    return _reconstruct(exp, state, step)
  if FLAGS.figure:
    return _figure(exp, state, step)
  translating = bool(exp.game.directions)
  if not translating and (FLAGS.input or FLAGS["direction"].present):
    cli.fail(f"--input and --direction apply to translation runs (game pix2pix or cyclegan), "
             f"not game={exp.game.name!r}")
  kwargs = {"input": _read_images(FLAGS.input)} if FLAGS.input else {}
  if translating:
    kwargs["direction"] = FLAGS.direction
  if FLAGS.truncation != 1.0:
    if "truncation" not in inspect.signature(exp.game.samples).parameters:
      cli.fail(f"--truncation applies to game='stylegan2' runs, not {exp.game.name!r}")
    kwargs["truncation"] = FLAGS.truncation
  try:
    out = exp.game.samples(state, num=FLAGS.num, seed=FLAGS.seed, **kwargs)
  except ConfigError as e:
    cli.fail(f"--input={FLAGS.input}: {e}" if FLAGS.input else str(e))
  files.write_atomic(FLAGS.out, lambda tmp: files.savez(tmp, **out))
  num = len(next(iter(out.values())))
  print(f"wrote {num} {'translations' if translating else 'samples'} of step {step} to "
        f"{FLAGS.out}")


def _figure(exp, state, step):
  if exp.game.name != "stylegan2":
    cli.fail(f"--figure applies to game='stylegan2' runs, not {exp.game.name!r}")
  if not FLAGS.out.lower().endswith(".png"):
    cli.fail(f"--out={FLAGS.out!r}: --figure writes a PNG; name the file *.png")
  from gan_jax.evaluation import sampling, stylegan2_sampling

  picture = stylegan2_sampling.FIGURES[FLAGS.figure](exp.game, state, FLAGS.seed,
                                                     FLAGS.truncation)
  files.write_atomic(FLAGS.out, lambda tmp: sampling.save_png(picture, tmp))
  print(f"wrote the {FLAGS.figure} figure of step {step} (ψ = {FLAGS.truncation}) to {FLAGS.out}")


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
  files.write_atomic(FLAGS.out, lambda tmp: files.savez(tmp, **out))
  print(f"wrote {len(x)} reconstructions of step {step} to {FLAGS.out}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
