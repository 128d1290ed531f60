r"""Conditional GAN on the embedded MNIST: G(z, c) with a label embedding, projection D(x, c).

  python -m gan_jax.main --config=experiments/cgan.py --workdir=runs/cgan

The hinge loss is the default since the recipe ablation (experiments/ablation_cgan_recipe.py;
docs/results.md, "MNIST conditional GAN"): over two seeds it gave fcd 13.8 against the
non-saturating loss's 17.9 at the same 3000 steps and cost, with higher recall and accuracy.
"""

from gan_jax import configs


def get_config():
  c = configs.base_config()
  c.objective = "hinge"  # D: E relu(1 - D(x, c)) + E relu(1 + D(G(z, c), c)); G: -E D(G(z, c), c).
  c.conditional = True  # Labels condition both players.
  c.data.name = "mnist"  # Embedded in the package: works offline.
  c.model.name = "dcgan28"  # The reference DCGAN-28 with conditioning added.
  c.model.conditioning = "projection"  # Miyato & Koyama's projection discriminator.
  c.train.batch_size = 64  # Global batch.
  c.train.num_steps = 3000  # ~3 epochs of MNIST at batch 64.
  return c
