r"""StyleGAN2 ablation on MNIST (experiments/stylegan2_mnist.py): R1 γ, ADA on/off and path-length
regularisation, × two seeds.

  python -m gan_jax.ablate --config=experiments/ablation_stylegan2.py \
      --workdir=runs/ablation_stylegan2

Variants (overrides of the base): the base recipe (γ = 0.01, ADA toward 0.6, path length 2);
γ ∈ {0 (no R1), 0.1, 1}; ADA off; no path-length regularisation. Run a subset with repeated
``--config.sweep.variant_names=``; shorten with ``--config.base.train.num_steps=N``.
"""

import importlib.util
import os

from gan_jax.sweeps import spec

SEEDS = (0, 1)


def _base():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stylegan2_mnist.py")
  module_spec = importlib.util.spec_from_file_location("stylegan2_mnist", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config()


def get_config():
  c = spec.ablation_config(_base())
  c.sweep.variants.base = {}
  c.sweep.variants.no_r1 = {"stylegan2": {"r1_gamma": 0.0}}
  c.sweep.variants.r1_0p1 = {"stylegan2": {"r1_gamma": 0.1}}
  c.sweep.variants.r1_1 = {"stylegan2": {"r1_gamma": 1.0}}
  c.sweep.variants.no_ada = {"reg": {"ada_pipe": "", "ada_target": 0.0}}
  c.sweep.variants.no_pl = {"stylegan2": {"pl_weight": 0.0}}
  c.sweep.variant_names = ("base", "no_r1", "r1_0p1", "r1_1", "no_ada", "no_pl")
  c.sweep.axes.seed = SEEDS
  return c
