r"""Recipe ablation for the flagship conditional GAN (experiments/cgan.py) on the embedded MNIST:
the hinge loss, the SAGAN recipe (hinge + spectral norm in D + two time-scale learning rates)
and DiffAugment, × two seeds, 10 000-sample evaluation.

  python -m gan_jax.ablate --config=experiments/ablation_cgan_recipe.py --workdir=runs/recipe

Every run is experiments/cgan.py (DCGAN-28, projection D, batch 64, EMA of G with warm-up) with
the variant's fields changed; docs/results.md ("MNIST conditional GAN") holds the table and
the choice it led to.
"""

from gan_jax import configs
from gan_jax.sweeps import spec

SEEDS = (0, 1)


def cgan_base():
  """experiments/cgan.py's run before this ablation (NS loss, no SN, one learning rate)."""
  c = configs.base_config()
  c.objective = "non_saturating"
  c.conditional = True
  c.model.name = "dcgan28"
  c.model.conditioning = "projection"
  c.train.batch_size = 64
  c.train.num_steps = 3000
  c.train.eval_num = 10000
  return c


def get_config(arg=None):
  """``arg``: unused (the sweep has one form)."""
  del arg
  c = spec.ablation_config(cgan_base())
  v = c.sweep.variants
  v.ns = {}
  v.hinge = {"objective": "hinge"}
  v.hinge_sn_ttur = {"objective": "hinge", "model": {"spectral_norm": True},
                     "optim": {"g_lr": 1e-4, "d_lr": 4e-4}}
  v.ns_diffaug = {"reg": {"diffaug": "translation,cutout"}}  # Zhao et al. 2020, both halves of D.
  c.sweep.variant_names = ("ns", "hinge", "hinge_sn_ttur", "ns_diffaug")
  c.sweep.axes.seed = SEEDS
  return c
