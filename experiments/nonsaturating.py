r"""The non-saturating GAN: G minimises -E log D(G(z)) (Goodfellow et al.'s practical fix).

  python -m gan_jax.main --config=experiments/nonsaturating.py --workdir=runs/ns
  python -m gan_jax.main --config=experiments/nonsaturating.py:ring --workdir=runs/ns_ring
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.objective = "non_saturating"  # G minimises -E log D(G(z)).
  return configs.with_dataset(c, arg)
