r"""The original minimax GAN, with the saturating generator loss E log(1 - D(G(z))).

  python -m gan_jax.main --config=experiments/vanilla.py --workdir=runs/vanilla
  python -m gan_jax.main --config=experiments/vanilla.py:ring --workdir=runs/vanilla_ring
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.objective = "minimax"  # G minimises E log(1 - D(G(z))): gradients vanish when D wins.
  return configs.with_dataset(c, arg)
