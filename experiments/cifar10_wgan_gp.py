r"""StudioGAN's WGAN-GP on CIFAR-10: the CIFAR ResNet (``resnet32``, width 64), critic with
the gradient penalty.

  python -m gan_jax.main --config=experiments/cifar10_wgan_gp.py --workdir=runs/cifar10_wgan_gp
  (offline data: add --config.data.path=/data/cifar10.npz, a Keras-layout npz)

Source: PyTorch-StudioGAN src/configs/CIFAR10/WGAN-GP.yaml on the src/config.py defaults:
Wasserstein loss + λ·GP with λ = 10, 5 D updates per step, 100k steps, batch 64, Adam(2e-4,
β = (0.5, 0.999)), z of size 128, unconditional, random flips, no EMA.
One deliberate difference: StudioGAN's critic has BatchNorm, which makes the per-example
gradient penalty ill-defined (D(x) depends on the other examples); here the critic uses a
per-example LayerNorm over (H, W, C) with the same per-channel scale and bias (d_norm='layer'),
so the parameter count (G 4,276,739, D 1,055,879) equals StudioGAN's.
Reported (test split): FID 25.85 (best, step 90k; 29.46 at 100k), StudioGAN logs/CIFAR10/
WGAN-GP-train-2020_09_16_14_17_00.log. Protocol: pytorch-fid Inception-V3, 10k generated
images against the moments of the 10k test images, evaluated every 2k steps, best kept.
Split: the FIDs above are against the test split (StudioGAN's logs); this project's
``eval`` (and gan_jax.evaluate) compares with training images, so its numbers measure another
reference set and are not directly comparable with them.
"""

from gan_jax import configs


def get_config():
  c = configs.use_cifar10(configs.base_config())
  c.objective = "wgan_gp"  # d = E D(G(z)) - E D(x) + λ·E(‖∇D(x̂)‖ - 1)², g = -E D(G(z)).
  c.gp_weight = 10.0
  c.model.name = "resnet32"
  c.model.d_norm = "layer"  # Per-example normalisation instead of StudioGAN's BatchNorm.
  return c
