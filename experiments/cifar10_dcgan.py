r"""StudioGAN's DCGAN on CIFAR-10: the standard CNN (``dcgan_cifar``), BatchNorm in G and D.

  python -m gan_jax.main --config=experiments/cifar10_dcgan.py --workdir=runs/cifar10_dcgan
  (offline data: add --config.data.path=/data/cifar10.npz, a Keras-layout npz)

Source: PyTorch-StudioGAN src/configs/CIFAR10/DCGAN.yaml on the src/config.py defaults:
non-saturating ('vanilla') loss, 2 D updates per step, 200k steps, batch 64, Adam(2e-4,
β = (0.5, 0.999)) for both, z of size 128, random flips, no EMA, orthogonal init.
Reported (test split): FID 49.03 (best, step 42k; 137.4 at 200k), StudioGAN logs/CIFAR10/
DCGAN-train-2020_09_15_13_23_51.log. Protocol: pytorch-fid Inception-V3, 10k generated images
against the moments of the 10k CIFAR-10 test images, evaluated every 2k steps, best kept.
Split: the FIDs above are against the test split (StudioGAN's logs); this project's
``eval`` (and gan_jax.evaluate) compares with training images, so its numbers measure another
reference set and are not directly comparable with them.
Here ``eval`` reports the in-project classifier's FCD until Inception features land.
"""

from gan_jax import configs


def get_config():
  c = configs.use_cifar10(configs.base_config())
  c.objective = "non_saturating"  # StudioGAN's 'vanilla': d = E sp(-r) + E sp(f), g = E sp(-f).
  c.model.name = "dcgan_cifar"
  c.model.spectral_norm = False  # D has BatchNorm (model.d_norm='auto').
  c.train.n_critic = 2
  c.train.num_steps = 200_000
  return c
