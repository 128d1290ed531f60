"""Reference outputs of stylegan2-ada-pytorch's AugmentPipe (training/augment.py) at fixed
transform parameters (its ``debug_percentile``), for tests/games/test_stylegan2_game.py's ADA check.

  /work/torchvenv/bin/python benchmarks/ada_reference.py --repo=/tmp/sg2ref \
      --out=tests/fixtures/ada_reference.npz

Cases (p = 1): (name, AugmentPipe kwargs, debug_percentile). Inputs: uniform [-1, 1) RGB 16x16.
"""

import argparse
import sys
import types

import numpy as np

CASES = [("flip", dict(xflip=1), 0.75), ("rot", dict(rotate=1), 0.6),
         ("scale", dict(scale=1), 0.8), ("xfrac", dict(xfrac=1), 0.7),
         ("color", dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1), 0.7)]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--repo", required=True)
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  import torch  # noqa: PLC0415

  sys.modules.setdefault("requests", types.ModuleType("requests"))
  sys.path.insert(0, args.repo)
  from training import augment  # noqa: PLC0415

  x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
  out = {"x": x}
  for name, kwargs, percentile in CASES:
    pipe = augment.AugmentPipe(**kwargs)
    pipe.p.copy_(torch.tensor(1.0))
    y = pipe(torch.from_numpy(x).permute(0, 3, 1, 2), debug_percentile=percentile)
    out[name] = y.permute(0, 2, 3, 1).numpy()
  np.savez_compressed(args.out, **out)


if __name__ == "__main__":
  main()
