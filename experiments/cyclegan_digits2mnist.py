r"""CycleGAN between scikit-learn's digits (domain a, 8x8 scans resized to 28x28) and MNIST (b),
unpaired: training sees no pairing and no labels (they score the translations only).

  python -m gan_jax.main --config=experiments/cyclegan_digits2mnist.py --workdir=runs/cyclegan

The paper's recipe (gan_jax.games.cyclegan): ResNet-block generators with instance norm, 16x16
PatchGANs, LSGAN, λ_cycle = 10, identity 0.5·λ_cycle, 50-image history buffers, Adam(2e-4,
β1 = 0.5) held for the first half and decayed linearly to 0 over the second; widths and the
block count scaled down for 28x28 digits on a CPU (ngf 16 for the paper's 64, 3 residual blocks
for its 6).
About 3 minutes on a 2-core CPU. Its translations keep about as many of the digits' labels as
the untranslated digits do (docs/results.md, "Image-to-image translation").
--config.translation.spatial_transformer=True puts a learnt affine warp in front of each
generator, which reframes the digits in part and keeps more of their labels (same page);
--config.translation.identity_skips_warp=True beside it leaves the warp out of the identity
term, which otherwise pulls it back toward the identity on MNIST's own digits.
--config.translation.reframe=True frames each generator's input as its target domain frames its
digits (a fixed warp, nothing learnt): more labels kept and a lower fcd than either, still short of
issue 26's 0.95 (same page).
"""

from gan_jax import configs


def get_config():
  c = configs.base_config()
  c.game = "cyclegan"
  c.data.name = "digits2mnist"  # gan_jax.data.translation: offline, unpaired.
  c.translation.update(lambda_cycle=10.0, lambda_identity=0.5, pool_size=50, ngf=16,
                       resnet_blocks=3, ndf=32, d_layers=1)
  c.optim.update(g_lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999, schedule="constant_then_linear")
  c.ema_decay = 0.0  # CycleGAN keeps no EMA of its generators.
  c.train.update(batch_size=16, num_steps=1500, log_every=100, sample_every=500,
                 checkpoint_every=1000, eval_num=2000)
  return c
