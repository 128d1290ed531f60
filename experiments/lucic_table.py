r"""Lucic et al. 2018 ("Are GANs Created Equal?", Table 2) on MNIST and Fashion-MNIST.

  python -m gan_jax.fid --fetch_weights          # once: the TF Inception (their evaluation)
  python -m gan_jax.ablate --config=experiments/lucic_table.py:mnist --workdir=runs/lucic_mnist
  python -m gan_jax.ablate --config=experiments/lucic_table.py:fashion_mnist \
      --workdir=runs/lucic_fashion

Their setup: compare_gan's InfoGAN-style G and D (``model.name='infogan28'``, z of 64), batch 64,
20 epochs (18,750 steps of 64 on 60,000 images), Adam. Their evaluation: FID of 10,000 samples
against the 10,000 test images on the TF graph's protocol (``tf_legacy``, 8-bit, TF1 bilinear).
One recipe per objective, gan_jax's choice (they report the best of a large search):
  minimax, non_saturating, lsgan: Adam 2e-4, β1 0.5, n_critic 1, BatchNorm in D;
  wgan (weight clipping): clip 0.01, n_critic 5, Adam 5e-5, β1 0.5, no BatchNorm in D;
  wgan_gp: λ 10, n_critic 5, Adam 1e-4, β1 0.5, β2 0.9, no BatchNorm in D.
Seeds: ``sweep.axes.seed`` is (0, 1, 2) on MNIST and (0, 1) on Fashion-MNIST; runs go seed
outermost, so an interrupted sweep has every objective once first. The issue's minimum (NS and
WGAN-GP over all seeds, the others over 1) is e.g. seed 0 of all, then
``--config.sweep.variant_names=non_saturating --config.sweep.variant_names=wgan_gp``. Their
best FIDs (MM, NS, LSGAN, WGAN, WGAN-GP): MNIST 9.8, 6.8, 7.8, 6.7, 20.3; Fashion-MNIST 29.6,
26.5, 30.7, 21.5, 24.5. A run is hours of this CPU; the sweep resumes across interruptions.
"""

from gan_jax import configs
from gan_jax.errors import ConfigError
from gan_jax.sweeps import spec

STEPS = 20 * 60_000 // 64  # 20 epochs at batch 64
RECIPES = {
    "minimax": {"objective": "minimax"},
    "non_saturating": {"objective": "non_saturating"},
    "lsgan": {"objective": "lsgan"},
    "wgan": {"objective": "wgan", "reg": {"weight_clip": 0.01}, "train": {"n_critic": 5},
             "optim": {"g_lr": 5e-5, "d_lr": 5e-5}, "model": {"d_norm": "none"}},
    "wgan_gp": {"objective": "wgan_gp", "gp_weight": 10.0, "train": {"n_critic": 5},
                "optim": {"g_lr": 1e-4, "d_lr": 1e-4, "b2": 0.9}, "model": {"d_norm": "none"}},
}
SEEDS = {"mnist": (0, 1, 2), "fashion_mnist": (0, 1)}


def get_config(arg=None):
  """``arg``: 'mnist' (default) or 'fashion_mnist'. Runs: objectives × seeds."""
  dataset = arg or "mnist"
  if dataset not in SEEDS:
    raise ConfigError(f"config argument {dataset!r} is unknown; valid: {', '.join(SEEDS)}")
  base = configs.base_config()
  base.data.name = dataset
  base.model.update(name="infogan28", z_dim=64)
  base.train.update(batch_size=64, num_steps=STEPS, eval_num=10_000, eval_features="inception",
                    inception_protocol="tf_legacy", inception_reference_split="test",
                    checkpoint_every=1000, sample_every=2000)
  c = spec.ablation_config(base)
  for objective, recipe in RECIPES.items():
    c.sweep.variants[objective] = recipe
  c.sweep.variant_names = tuple(RECIPES)
  c.sweep.axes.seed = SEEDS[dataset]
  return c
