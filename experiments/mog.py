r"""The 2-D toy: 8 Gaussians on a ring of radius 2 (std 0.02), with an MLP G and D.

  python -m gan_jax.main --config=experiments/mog.py --workdir=runs/mog
  python -m gan_jax.main --config=experiments/mog.py:wgan_gp --workdir=runs/mog_wgan_gp

The default is the non-saturating GAN with a small R1 penalty on D (γ = 0.1); ``:wgan_gp`` is
WGAN-GP with a small λ = 0.1, n_critic = 5 and Adam(β1 = 0, β2 = 0.9). Both were tuned on this
ring at 5000 steps (docs/results.md, "The 2-D ring"): with std 0.02 the modes are narrow, and
the plain objectives land near the modes but rarely within 3 std of them.
"""

from gan_jax import configs
from gan_jax.errors import ConfigError


def get_config(arg=None):
  """``arg``: '' (non-saturating + R1) or 'wgan_gp'."""
  c = configs.use_ring(configs.base_config())
  if arg in (None, "", "non_saturating"):
    c.objective = "non_saturating"
    c.reg.r1_weight = 0.1  # γ/2·E‖∇D(x)‖² on real x: keeps D smooth around the narrow modes.
  elif arg == "wgan_gp":
    c.objective = "wgan_gp"
    c.gp_weight = 0.1  # λ: small for this 2-D scale (docs/results.md compares it with 10).
    c.train.n_critic = 5  # Critic updates per G update.
    c.optim.b1 = 0.0
    c.optim.b2 = 0.9
  else:
    raise ConfigError(f"config argument {arg!r} is unknown; valid: '', wgan_gp")
  return c
