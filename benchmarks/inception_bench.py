"""Images/s of gan_jax.inception's feature extraction (the pytorch-fid side is
benchmarks/inception_reference.py bench, run in the torch virtualenv).

  python benchmarks/inception_bench.py [--weights=W.pth] [--batch=200] [--batches=2] [--size=32]

Without --weights the random weights of tests/torch_pth.py are used (speed does not depend on the
values). One warm-up batch compiles; the median over --batches timed batches is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gan_jax.evaluation import inception  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--weights", default="")
  parser.add_argument("--batch", type=int, default=200)
  parser.add_argument("--batches", type=int, default=2)
  parser.add_argument("--size", type=int, default=32)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    weights = args.weights
    if not weights:
      from tests import torch_pth

      weights = os.path.join(tmp, "random.pth")
      torch_pth.save_state_dict(weights, torch_pth.random_fid_state_dict(0))
    features = inception.load(weights, batch_size=args.batch)
  x = np.random.default_rng(0).uniform(-1, 1, (args.batch, args.size, args.size, 3))
  x = x.astype(np.float32)
  t = time.perf_counter()
  features(x)
  compile_and_first = time.perf_counter() - t
  times = []
  for _ in range(args.batches):
    t = time.perf_counter()
    features(x)
    times.append(time.perf_counter() - t)
  print(json.dumps({"impl": "gan_jax", "jax": jax.__version__, "devices": len(features.devices),
                    "batch": args.batch, "size": args.size,
                    "first_batch_s": round(compile_and_first, 2),
                    "batch_s": [round(t, 2) for t in times],
                    "images_per_s": round(args.batch / float(np.median(times)), 2)}))


if __name__ == "__main__":
  main()
