r"""WGAN-GP (Gulrajani et al. 2017): a critic with the gradient penalty λ·E(‖∇D(x̂)‖ - 1)².

  python -m gan_jax.main --config=experiments/wgan_gp.py --workdir=runs/wgan_gp
  python -m gan_jax.main --config=experiments/wgan_gp.py:ring --workdir=runs/wgan_gp_ring
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.objective = "wgan_gp"  # d_loss = E D(G(z)) - E D(x) + λ·GP; g_loss = -E D(G(z)).
  c.gp_weight = 10.0  # λ, as in the paper.
  c.train.n_critic = 5  # Critic updates per generator update.
  c.optim.g_lr = 1e-4  # Adam(1e-4, β1=0, β2=0.9) for both players, as in the paper.
  c.optim.d_lr = 1e-4
  c.optim.b1 = 0.0
  c.optim.b2 = 0.9
  c = configs.with_dataset(c, arg)
  if arg == "ring":
    c.optim.b1, c.optim.b2 = 0.0, 0.9
  return c
