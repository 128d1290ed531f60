r"""λ ablation of the image-to-image games: Pix2Pix's λ_L1 on mnist_sr (default) or CycleGAN's
λ_cycle on digits2mnist (``:cyclegan``), × two seeds; everything else as the shipped configs.

  python -m gan_jax.ablate --config=experiments/ablation_translation.py --workdir=runs/abl_l1
  python -m gan_jax.ablate --config=experiments/ablation_translation.py:cyclegan \
      --workdir=runs/abl_cycle

λ = 0 is the GAN term alone (Pix2Pix: a conditional GAN; CycleGAN: two unlinked GANs), and the
table shows what the reconstruction term buys in accuracy (label preservation), PSNR and fcd.
Shorter runs from the command line, e.g. --config.base.train.num_steps=500.
"""

import importlib.util
import os

import ml_collections

from gan_jax.errors import ConfigError
from gan_jax.sweeps import spec

LAMBDA_L1 = (0.0, 10.0, 100.0)
LAMBDA_CYCLE = (0.0, 1.0, 10.0)
SEEDS = (0, 1)


def _shipped(name: str) -> ml_collections.ConfigDict:
  """The run config of the sibling experiments/<name>.py."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config()


def get_config(arg=None):
  """``arg``: 'pix2pix' (default) or 'cyclegan'."""
  if arg in (None, "", "pix2pix"):
    c = spec.ablation_config(_shipped("pix2pix_mnist_sr"))
    c.sweep.axes.translation = {"lambda_l1": LAMBDA_L1}
  elif arg == "cyclegan":
    c = spec.ablation_config(_shipped("cyclegan_digits2mnist"))
    c.sweep.axes.translation = {"lambda_cycle": LAMBDA_CYCLE}
  else:
    raise ConfigError(f"config argument {arg!r} is unknown; valid: pix2pix, cyclegan")
  c.sweep.axes.seed = SEEDS
  return c
