"""Trainable parameter counts of stylegan2-ada-pytorch's networks (training/networks.py), per
parameter, for the configs whose counts tests/models/test_stylegan2.py compares against gan_jax's.

Run once, outside CI, in the torch virtualenv, with a checkout of NVlabs/stylegan2-ada-pytorch:

  /work/torchvenv/bin/python benchmarks/stylegan2_reference_params.py \
      --repo=/tmp/sg2ref --out=tests/fixtures/stylegan2_params.json

Each config: G(z_dim=w_dim=512, mapping num_layers=map, channel_base, channel_max) and
D(architecture, channel_base, channel_max), as train.py builds them for --cfg=cifar (fmaps=1:
channel_base 32768, channel_max 512, map 2, D 'orig') with and without --cond.
"""

import argparse
import json
import sys

CONFIGS = {
    # train.py --cfg=cifar (--cond=1: c_dim=10)
    "cifar_cond": dict(c_dim=10, res=32, channels=3, base=32768, cmax=512, map=2, arch="orig"),
    "cifar_uncond": dict(c_dim=0, res=32, channels=3, base=32768, cmax=512, map=2, arch="orig"),
    # the same with the default residual D
    "cifar_cond_resnet": dict(c_dim=10, res=32, channels=3, base=32768, cmax=512, map=2,
                              arch="resnet"),
}


def import_reference(repo: str):
  """training.networks of the checkout at ``repo`` (dnnlib's unused 'requests' import stubbed;
  the ops fall back to their reference implementations: no custom CUDA)."""
  import types  # noqa: PLC0415

  sys.modules.setdefault("requests", types.ModuleType("requests"))
  sys.path.insert(0, repo)
  from training import networks  # noqa: PLC0415

  return networks


def counts(module) -> dict:
  return {name: int(p.numel()) for name, p in module.named_parameters() if p.requires_grad}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--repo", required=True)
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  networks = import_reference(args.repo)

  out = {}
  for name, c in CONFIGS.items():
    G = networks.Generator(
        z_dim=512, c_dim=c["c_dim"], w_dim=512, img_resolution=c["res"],
        img_channels=c["channels"], mapping_kwargs=dict(num_layers=c["map"]),
        synthesis_kwargs=dict(channel_base=c["base"], channel_max=c["cmax"]))
    D = networks.Discriminator(
        c_dim=c["c_dim"], img_resolution=c["res"], img_channels=c["channels"],
        architecture=c["arch"], channel_base=c["base"], channel_max=c["cmax"])
    out[name] = {"config": c, "G": counts(G), "D": counts(D),
                 "G_total": sum(counts(G).values()), "D_total": sum(counts(D).values())}
    print(name, out[name]["G_total"], out[name]["D_total"])
  with open(args.out, "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  main()
