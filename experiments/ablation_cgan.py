r"""Conditioning ablation: unconditional vs conditional GAN, and D conditioned by concatenating
one-hot label planes to its input, by projection (Miyato & Koyama 2018) or by an auxiliary
classifier (AC-GAN, Odena et al. 2017; weight reg.ac_weight), × three seeds.

  python -m gan_jax.ablate --config=experiments/ablation_cgan.py --workdir=runs/ablation_cgan
  python -m gan_jax.ablate --config=experiments/ablation_cgan.py:digits \
      --workdir=runs/ablation_cgan_digits

The base is experiments/cgan.py's MNIST DCGAN-28 run. ``:digits`` is the CPU-sized variant: the
1,437 scikit-learn 8×8 digits resized to 28×28, for a third of the steps. Image metrics (fcd,
precision/recall, ...; conditional_accuracy for the conditional runs) come from the in-project
classifier, trained once per dataset and cached.
"""

from gan_jax import configs
from gan_jax.sweeps import spec

SEEDS = (0, 1, 2)


def get_config(arg=None):
  """``arg``: 'mnist' (default) or 'digits'."""
  base = configs.base_config()
  base.objective = "non_saturating"
  if arg == "digits":
    base.data.name = "digits"
    base.train.num_steps = 1000
    base.train.sample_every = 500
    base.train.checkpoint_every = 500
  elif arg not in (None, "", "mnist"):
    raise ValueError(f"config argument {arg!r} is unknown; valid: mnist, digits")
  c = spec.ablation_config(base)
  c.sweep.variants.unconditional = {"conditional": False}
  c.sweep.variants.concat = {"conditional": True, "model": {"conditioning": "concat"}}
  c.sweep.variants.projection = {"conditional": True, "model": {"conditioning": "projection"}}
  c.sweep.variants.ac = {"conditional": True, "model": {"conditioning": "ac"}}
  c.sweep.variant_names = ("unconditional", "concat", "projection", "ac")
  c.sweep.axes.seed = SEEDS
  return c
