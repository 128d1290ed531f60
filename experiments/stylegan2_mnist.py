r"""StyleGAN2 (stylegan2-ada-pytorch's networks and loop) on unconditional MNIST, sized for a CPU.

  python -m gan_jax.main --config=experiments/stylegan2_mnist.py --workdir=runs/stylegan2_mnist

MNIST's 28x28 digits are padded with -1 (black) to 32x32 for D; G synthesises 32x32 and G(z)
is its centre 28x28 crop. The recipe is stylegan2-ada-pytorch's --cfg=auto at 32x32 and batch
32 (map 2, mbstd group 4, lr 0.0025, β = (0, 0.99), EMA 10 kimg with ramp-up 0.05, R1 every 16
steps, path length every 4, style mixing 0.9, ADA toward 0.6), with narrower layers
(channel_base 1024: 64 channels at 4..16, 32 at 32x32) and w of 64. R1 γ: the auto formula
gives 0.0002·32²/32 = 0.0064; 0.01 as --cfg=cifar.
"""

from gan_jax import configs


def get_config():
  c = configs.base_config()
  c.game = "stylegan2"
  c.data.name = "mnist"
  c.model.update(name="stylegan2", z_dim=64, w_dim=64, mapping_layers=2, channel_base=1024,
                 channel_max=64, d_architecture="resnet", mbstd_group_size=4)
  c.optim.update(g_lr=0.0025, d_lr=0.0025, b1=0.0, b2=0.99)
  c.stylegan2.update(r1_gamma=0.01, pl_weight=2.0, style_mixing_prob=0.9, ema_kimg=10.0,
                     ema_rampup=0.05)
  c.reg.update(ada_pipe="bgc", ada_target=0.6)
  c.train.update(batch_size=32, num_steps=5000, log_every=100, sample_every=1000,
                 checkpoint_every=1000)
  return c
