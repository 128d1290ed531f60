r"""StyleGAN2-ADA on class-conditional CIFAR-10: stylegan2-ada-pytorch's ``--cfg=cifar --cond=1``
(train.py cfg_specs['cifar'] and its cifar overrides), for a GPU.

  python -m gan_jax.main --config=experiments/cifar10_stylegan2.py --workdir=runs/cifar10_sg2

Reference command: python train.py --outdir=runs --data=cifar10.zip --gpus=2 --cfg=cifar --cond=1
Target: FID 2.42 (train split) (conditional CIFAR-10, 50k samples; Karras et al. 2020,
"Training Generative Adversarial Networks with Limited Data", and the repository's README).
This project's eval compares with training images
too. Its
budget is 100,000 kimg: 1,562,500 steps of batch 64.

--cfg=cifar: 512 channels at every resolution (channel_base 32768, channel_max 512), mapping
depth 2, z = w = 512, batch 64 (minibatch-stddev groups of 32: its 32 per GPU on 2 GPUs),
Adam(0.0025, β = (0, 0.99)) with the lazy-regularisation adjustment, R1 γ = 0.01 every 16 D
steps, EMA half-life 500 kimg with ramp-up 0.05, no path-length regularisation, no style mixing,
'orig' D (no residual connections), ADA 'bgc' toward r_t = 0.6, conv outputs clamped to ±256.
Differences: float32 everywhere (the reference runs its 4 highest resolutions in float16), and
G's fake labels are uniform over the 10 classes (the reference draws training labels; CIFAR-10's
are uniform). Set ``--config.conditional=False`` for the unconditional recipe.
"""

from gan_jax import configs


def get_config():
  c = configs.base_config()
  c.game = "stylegan2"
  c.conditional = True
  c.data.name = "cifar10"
  c.model.update(name="stylegan2", z_dim=512, w_dim=512, mapping_layers=2, channel_base=32768,
                 channel_max=512, d_architecture="orig", mbstd_group_size=32, conv_clamp=256.0)
  c.optim.update(g_lr=0.0025, d_lr=0.0025, b1=0.0, b2=0.99)
  c.stylegan2.update(r1_gamma=0.01, r1_interval=16, pl_weight=0.0, pl_interval=4,
                     style_mixing_prob=0.0, ema_kimg=500.0, ema_rampup=0.05)
  c.reg.update(ada_pipe="bgc", ada_target=0.6, ada_interval=4, ada_kimg=500)
  c.train.update(batch_size=64, num_steps=1_562_500, log_every=100, sample_every=10_000,
                 checkpoint_every=10_000, eval_every=50_000, eval_num=50_000,
                 eval_features="inception")
  return c
