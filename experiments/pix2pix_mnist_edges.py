r"""Pix2Pix on MNIST sketches: the edge map of a digit (gan_jax.data.translation) -> the digit.

  python -m gan_jax.main --config=experiments/pix2pix_mnist_edges.py --workdir=runs/pix2pix_edges

The paper's recipe (gan_jax.games.pix2pix): U-Net G with BatchNorm and dropout, a 16x16 PatchGAN
D on (input, output) pairs, the cGAN loss + 100·L1, Adam(2e-4, β1 = 0.5), lr held for the first
half and decayed linearly to 0 over the second; the U-Net and PatchGAN widths are scaled down
for 28x28 digits on a CPU (models.translation).
10000 steps: about 8 minutes alone on a 2-core CPU (docs/results.md, "Image-to-image
translation", has its scores over 2 seeds).
"""

from gan_jax import configs


def get_config():
  c = configs.base_config()
  c.game = "pix2pix"
  c.data.name = "mnist_edges"  # gan_jax.data.translation: offline, from the embedded MNIST.
  c.translation.lambda_l1 = 100.0
  c.translation.ngf = 32  # U-Net levels of 32, 64, 128, 128 channels (32 -> 16 -> 8 -> 4 -> 2).
  c.translation.ndf = 32
  c.translation.d_layers = 1  # 16x16 patches.
  c.optim.update(g_lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999, schedule="constant_then_linear")
  c.ema_decay = 0.0  # Pix2Pix keeps no EMA of G.
  c.train.update(batch_size=32, num_steps=10000, log_every=100, sample_every=2000,
                 checkpoint_every=2000, eval_num=2000)
  return c
