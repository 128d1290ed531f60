r"""StudioGAN's BigGAN on CIFAR-10 (``biggan32``, width 96): hierarchical z, shared class
embedding, spectral norm in G and D, self-attention, hinge loss, EMA of G from step 1000.

  python -m gan_jax.main --config=experiments/cifar10_biggan.py --workdir=runs/cifar10_biggan
  (offline data: add --config.data.path=/data/cifar10.npz, a Keras-layout npz)
  DiffAugment variant (StudioGAN's BigGAN-DiffAug.yaml, 200k steps):
  ... --config.reg.diffaug=color,translation,cutout --config.train.num_steps=200000

Source: PyTorch-StudioGAN src/configs/CIFAR10/BigGAN.yaml (big_resnet, cBN, PD, apply_g_sn,
apply_d_sn, attention after G block 2 and D block 1, z_dim 80, g_shared_dim 128, conv dims 96,
EMA decay 0.9999 from step 1000, hinge) on the src/config.py defaults: 5 D updates per step,
100k steps, batch 64, Adam(2e-4, β = (0.5, 0.999)), random flips.
Reported (test split): FID 8.03 (best, step 98k; 8.13 at 100k), StudioGAN logs/CIFAR10/
BigGAN-train-2021_01_15_14_48_48.log; with DiffAugment 7.16 (best, step 198k of 200k),
logs/CIFAR10/DiffAugGAN(P)-train-2020_09_18_14_33_57.log. Protocol: pytorch-fid Inception-V3,
10k generated images (of the EMA G) against the moments of the 10k CIFAR-10 test images,
evaluated every 2k steps, best kept.
Split: the FIDs above are against the test split (StudioGAN's logs); this project's
``eval`` (and gan_jax.evaluate) compares with training images, so its numbers measure another
reference set and are not directly comparable with them.
"""

from gan_jax import configs


def get_config():
  c = configs.use_cifar10(configs.base_config())
  c.objective = "hinge"
  c.conditional = True
  c.model.name = "biggan32"
  c.model.z_dim = 80  # 4 chunks of 20: the input Dense and each G block's conditional BN.
  c.model.embed_dim = 128  # The shared class embedding.
  c.model.width = 96
  c.model.conditioning = "projection"
  c.model.spectral_norm = True
  c.model.g_spectral_norm = True
  c.ema_decay = 0.9999
  # The EMA copies G until step 1000 (StudioGAN's g_ema_start), then averages with the constant
  # decay 0.9999 (ema_warmup='none', set by use_cifar10: StudioGAN's Ema has no warm-up).
  c.ema_start_step = 1000
  return c
