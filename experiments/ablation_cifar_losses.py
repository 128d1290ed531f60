r"""Loss ablation on CIFAR-10 with the standard CNN: minimax, non-saturating, hinge, LSGAN and
WGAN-GP × three seeds, on the StudioGAN DCGAN recipe (experiments/cifar10_dcgan.py).

  python -m gan_jax.ablate --config=experiments/ablation_cifar_losses.py \
      --workdir=runs/ablation_cifar_losses
  (offline data: add --config.base.data.path=/data/cifar10.npz)

Everything but the objective is the base's: ``dcgan_cifar`` (BatchNorm in G and D), 2 D updates
per step, Adam(2e-4, β = (0.5, 0.999)), batch 64, random flips, 200k steps (StudioGAN's DCGAN and
LSGAN logs peak at 42k and 22k steps and degrade later; shorter sweeps with
``--config.base.train.num_steps=50000``). WGAN-GP also swaps D's BatchNorm for the per-example
LayerNorm, as its per-example gradient penalty needs (experiments/cifar10_wgan_gp.py); it keeps
the base's n_critic and Adam settings. Subsets: repeated ``--config.sweep.variant_names=``,
``--config.sweep.axes.seed=``.
"""

import importlib.util
import os

from gan_jax.errors import ConfigError
from gan_jax.sweeps import spec

OBJECTIVES = ("minimax", "non_saturating", "hinge", "lsgan", "wgan_gp")
SEEDS = (0, 1, 2)


def _dcgan_recipe():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cifar10_dcgan.py")
  spec = importlib.util.spec_from_file_location("cifar10_dcgan", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config(arg=None):
  """``arg``: none (CIFAR-10 only; the data source is ``--config.base.data.*``)."""
  if arg:
    raise ConfigError(f"config argument {arg!r} is unknown; ablation_cifar_losses takes none")
  c = spec.ablation_config(_dcgan_recipe())
  for objective in OBJECTIVES:
    c.sweep.variants[objective] = {"objective": objective}
  c.sweep.variants.wgan_gp = {"objective": "wgan_gp", "model": {"d_norm": "layer"}}
  c.sweep.variant_names = OBJECTIVES
  c.sweep.axes.seed = SEEDS
  return c
