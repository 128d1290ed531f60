r"""StudioGAN's SNGAN on CIFAR-10: the CIFAR ResNet (``resnet32``, width 64) with spectral norm
in D, conditional BatchNorm in G and the projection discriminator, hinge loss.

  python -m gan_jax.main --config=experiments/cifar10_sngan.py --workdir=runs/cifar10_sngan
  (offline data: add --config.data.path=/data/cifar10.npz, a Keras-layout npz)

Source: PyTorch-StudioGAN src/configs/CIFAR10/SNGAN.yaml (g_cond_mtd cBN, d_cond_mtd PD,
apply_d_sn, hinge) on the src/config.py defaults: 5 D updates per step, 100k steps, batch 64,
Adam(2e-4, β = (0.5, 0.999)), z of size 128, random flips, no EMA.
Reported (test split): FID 13.25 (best, step 90k; 13.44 at 100k), StudioGAN logs/CIFAR10/
SNGAN-train-2020_09_18_14_37_00.log. Protocol: pytorch-fid Inception-V3, 10k generated images
against the moments of the 10k CIFAR-10 test images, evaluated every 2k steps, best kept.
Split: the FIDs above are against the test split (StudioGAN's logs); this project's
``eval`` (and gan_jax.evaluate) compares with training images, so its numbers measure another
reference set and are not directly comparable with them.
"""

from gan_jax import configs


def get_config():
  c = configs.use_cifar10(configs.base_config())
  c.objective = "hinge"  # d = E relu(1 - r) + E relu(1 + f), g = -E f.
  c.conditional = True  # G: conditional BN of the one-hot label.
  c.model.name = "resnet32"
  c.model.conditioning = "projection"
  c.model.spectral_norm = True  # and hence no BatchNorm in D (model.d_norm='auto').
  return c
