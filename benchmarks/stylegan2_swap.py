r"""Which StyleGAN2 network collapses: ``gan_jax.main`` with ``models.get`` returning StyleGAN2's G
or D in place of the configured model's (DCGAN-28 in experiments/cgan.py), the other kept.

  MIX=sgG_dcD python benchmarks/stylegan2_swap.py --config=experiments/cgan.py --workdir=W \
      --config.conditional=False [any gan_jax.main flags]

MIX names the pair: ``sgG_dcD``, ``dcG_sgD``, ``sgG_sgD`` or ``dcG_dcD`` (sg = StyleGAN2 at the
pilots' CPU width: z from ``model.z_dim``, w 64, mapping 2, channel_base 512, channel_max 32,
resnet D, mbstd group 4 with MBSTD channels, 1 by default and 0 for none; dc = the configured
model). The game, objective, optimiser and evaluation are the config's; ``optim.g_lr`` and
``optim.d_lr`` set each network's rate. A pilot tool for docs/results.md, not a model choice:
nothing under gan_jax changes.
"""

from __future__ import annotations

import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ml_collections  # noqa: E402

from gan_jax import models  # noqa: E402
from gan_jax.models import stylegan2  # noqa: E402

PAIRS = ("sgG_dcD", "dcG_sgD", "sgG_sgD", "dcG_dcD")


def swapped_get(pair: str, configured_get, mbstd_num_channels: int = 1):
  """``models.get`` whose G and/or D is StyleGAN2's, as ``pair`` names; StyleGAN2's D with
  ``mbstd_num_channels`` minibatch-stddev channels (0: none)."""

  def get(model_config, *, example_shape, num_classes=0, axis_name=None):
    sg_config = ml_collections.ConfigDict(dict(
        name="stylegan2", z_dim=model_config.z_dim, w_dim=64, mapping_layers=2, channel_base=512,
        channel_max=32, d_architecture="resnet", mbstd_group_size=4))
    sg_g, sg_d = stylegan2.build(sg_config, example_shape=tuple(example_shape),
                                 num_classes=num_classes, axis_name=axis_name)
    sg_d = sg_d.clone(mbstd_num_channels=mbstd_num_channels)
    g, d = configured_get(model_config, example_shape=example_shape, num_classes=num_classes,
                          axis_name=axis_name)
    return (sg_g if pair.startswith("sgG") else g), (sg_d if pair.endswith("sgD") else d)

  return get


def main():
  pair = os.environ.get("MIX", "")
  if pair not in PAIRS:
    print(f"MIX={pair!r} is unknown; valid: {', '.join(PAIRS)}", file=sys.stderr)
    sys.exit(2)
  models.get = swapped_get(pair, models.get, int(os.environ.get("MBSTD", "1")))
  sys.argv = ["gan_jax.main"] + sys.argv[1:]
  runpy.run_module("gan_jax.main", run_name="__main__")


if __name__ == "__main__":
  main()
