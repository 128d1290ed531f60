r"""The 2-D toy: 8 Gaussians on a ring of radius 2 (std 0.02), with an MLP G and D.

  python -m gan_jax.main --config=experiments/mog.py --workdir=runs/mog
  python -m gan_jax.main --config=experiments/mog.py --config.objective=wgan_gp \
      --workdir=runs/mog_wgan_gp
"""

from gan_jax import configs


def get_config():
  c = configs.use_ring(configs.base_config())
  c.objective = "non_saturating"  # Also works with wgan_gp, see the second command.
  return c
