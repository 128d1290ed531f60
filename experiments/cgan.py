r"""Conditional GAN on the embedded MNIST: G(z, c) with a label embedding, projection D(x, c).

  python -m gan_jax.main --config=experiments/cgan.py --workdir=runs/cgan
"""

from gan_jax import configs


def get_config():
  c = configs.base_config()
  c.objective = "non_saturating"  # G minimises -E log D(G(z, c), c).
  c.conditional = True  # Labels condition both players.
  c.data.name = "mnist"  # Embedded in the package: works offline.
  c.model.name = "dcgan28"  # The reference DCGAN-28 with conditioning added.
  c.model.conditioning = "projection"  # Miyato & Koyama's projection discriminator.
  c.train.batch_size = 64  # Global batch.
  c.train.num_steps = 3000  # ~3 epochs of MNIST at batch 64.
  return c
