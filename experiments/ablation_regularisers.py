r"""Regulariser ablation: the non-saturating GAN with none / instance noise / R1 / spectral norm,
and the WGAN critic with weight clipping vs the gradient penalty, × three seeds.

  python -m gan_jax.ablate --config=experiments/ablation_regularisers.py \
      --workdir=runs/ablation_reg_ring
  python -m gan_jax.ablate --config=experiments/ablation_regularisers.py:mnist \
      --workdir=runs/ablation_reg_mnist

The base is the ring run of experiments/mog.py (``:mnist``: the MNIST DCGAN-28 run). Each
variant is a set of overrides of that base; both WGAN variants use the paper's n_critic=5 and
Adam(β1=0, β2=0.9) (the original WGAN used RMSprop; Adam without momentum is close to it).
Instance noise anneals to 0 over the first half of the base's num_steps (set at file load: pass
``--config.sweep.variants.instance_noise.reg.instance_noise_anneal_steps=N`` with a shorter
``--config.base.train.num_steps``). Run a subset with repeated ``--config.sweep.variant_names=``.
"""

from gan_jax import configs
from gan_jax.sweeps import spec

SEEDS = (0, 1, 2)
WGAN_CRITIC = {"train": {"n_critic": 5}, "optim": {"b1": 0.0, "b2": 0.9}}


def get_config(arg=None):
  """``arg``: 'ring' (default) or 'mnist'."""
  base = configs.with_dataset(configs.base_config(), arg or "ring")
  base.objective = "non_saturating"
  c = spec.ablation_config(base)
  c.sweep.variants.none = {}
  c.sweep.variants.instance_noise = {"reg": {  # σ(t) = 0.1·max(0, 1 - t/T), T = half the run.
      "instance_noise_std": 0.1, "instance_noise_anneal_steps": base.train.num_steps // 2}}
  c.sweep.variants.r1 = {"reg": {"r1_weight": 1.0}}  # + γ/2·E‖∇D(x)‖² on real x.
  c.sweep.variants.spectral_norm = {"model": {"spectral_norm": True}}  # W / σ_max(W) in D.
  c.sweep.variants.wgan_clip = {  # Original WGAN: critic params clipped to ±0.01.
      "objective": "wgan", "reg": {"weight_clip": 0.01}, **WGAN_CRITIC}
  c.sweep.variants.wgan_gp = {"objective": "wgan_gp", "gp_weight": 10.0, **WGAN_CRITIC}
  c.sweep.variant_names = (
      "none", "instance_noise", "r1", "spectral_norm", "wgan_clip", "wgan_gp")
  c.sweep.axes.seed = SEEDS
  return c
