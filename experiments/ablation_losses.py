r"""Loss ablation: five GAN objectives × three seeds; models, optimiser and steps shared.

  python -m gan_jax.ablate --config=experiments/ablation_losses.py --workdir=runs/ablation_ring
  python -m gan_jax.ablate --config=experiments/ablation_losses.py:mnist \
      --workdir=runs/ablation_mnist

The default (or ``:ring``) base is the ring-of-8-Gaussians run of experiments/mog.py
(``configs.use_ring``); ``:mnist`` is the DCGAN-28 MNIST run of experiments/nonsaturating.py.
Only ``objective`` differs between runs: WGAN-GP keeps the base's n_critic and Adam settings
(experiments/ablation_regularisers.py runs it with the paper's n_critic=5, β1=0). Subsets and
shorter runs from the command line, e.g.
  --config.sweep.axes.objective=minimax --config.sweep.axes.objective=non_saturating
  --config.sweep.axes.seed=0 --config.base.train.num_steps=2000
"""

from gan_jax import configs
from gan_jax.sweeps import spec

OBJECTIVES = ("minimax", "non_saturating", "wgan_gp", "lsgan", "hinge")
SEEDS = (0, 1, 2)


def get_config(arg=None):
  """``arg``: 'ring' (default) or 'mnist'."""
  c = spec.ablation_config(configs.with_dataset(configs.base_config(), arg or "ring"))
  c.sweep.axes.objective = OBJECTIVES  # Runs = objectives × seeds.
  c.sweep.axes.seed = SEEDS
  return c
