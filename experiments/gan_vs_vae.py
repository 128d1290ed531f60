r"""The GAN-versus-VAE table: the GAN (experiments/cgan.py's recipe made unconditional), the VAE
(experiments/vae_mnist.py) and the VAE-GAN (experiments/vaegan_mnist.py), 3 seeds each, all with
DCGAN-28's G as the generator/decoder and D's widths in the encoder and discriminator.

  python -m gan_jax.ablate --config=experiments/gan_vs_vae.py --workdir=runs/gan_vs_vae
  python -m gan_jax.gan_vs_vae --workdir=runs/gan_vs_vae   # the table (docs/gan_vs_vae.md)

Each variant is its experiment file's config, written as the fields in which it differs from the
GAN's; subsets from the command line, e.g. ``--config.sweep.variant_names=vae
--config.sweep.axes.seed=0 --config.base.train.num_steps=300``. The VAE-GAN sets its own batch
and length (experiments/vaegan_mnist.py): shorten it with
``--config.sweep.variants.vaegan.train.num_steps``.
"""

import os
import runpy

from gan_jax import configs
from gan_jax.sweeps import spec

SEEDS = (0, 1, 2)
_HERE = os.path.dirname(os.path.abspath(__file__))


def _experiment(name: str):
  return runpy.run_path(os.path.join(_HERE, f"{name}.py"))["get_config"]()


def _overrides(config, base) -> dict:
  """The nested fields of ``config`` that differ from ``base``."""
  flat, flat_base = configs.flatten(config.to_dict()), configs.flatten(base.to_dict())
  nested: dict = {}
  for field, value in flat.items():
    if flat_base.get(field) != value:
      node = nested
      *parents, leaf = field.split(".")
      for part in parents:
        node = node.setdefault(part, {})
      node[leaf] = value
  return nested


def get_config(arg=None):
  del arg
  gan = _experiment("cgan")
  gan.conditional = False  # The flagship recipe, unconditional: the VAEs are.
  c = spec.ablation_config(gan)
  c.sweep.variants.gan = {}
  c.sweep.variants.vae = _overrides(_experiment("vae_mnist"), gan)
  c.sweep.variants.vaegan = _overrides(_experiment("vaegan_mnist"), gan)
  c.sweep.variant_names = ("gan", "vae", "vaegan")
  c.sweep.axes.seed = SEEDS
  return c
