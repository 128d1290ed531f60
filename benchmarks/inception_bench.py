"""Images/s and peak memory of gan_jax.inception's feature extraction, and the comparison with
pytorch-fid (benchmarks/inception_reference.py bench, run in the torch virtualenv).

  python benchmarks/inception_bench.py [--weights=W.pth] [--batch=100] [--batches=2] [--size=32]
      [--micro=10]
  python benchmarks/inception_bench.py compare --torch_python=/work/torchvenv/bin/python \
      [--rounds=3] [--batch=100] [--micro=10]     # alternating fresh processes, medians

Without --weights the random weights of tests/torch_pth.py are used (speed does not depend on the
values). One warm-up batch compiles; the median over --batches timed batches is reported, with
the process's peak resident memory (ru_maxrss). ``compare`` runs gan_jax and pytorch-fid one
after the other, --rounds times, each in a fresh process, and prints the medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from gan_jax.evaluation import inception  # noqa: E402


def peak_rss_gb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _run_json(cmd: list[str]) -> dict:
  out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO).stdout
  return json.loads(out.strip().splitlines()[-1])


def compare(args) -> None:
  """Alternating fresh processes of both implementations; medians of images/s and peak memory."""
  common = [f"--batch={args.batch}", f"--batches={args.batches}", f"--size={args.size}"]
  runs: dict[str, list[dict]] = {"gan_jax": [], "pytorch-fid": []}
  for _ in range(args.rounds):
    runs["gan_jax"].append(_run_json([sys.executable, __file__, *common,
                                      f"--micro={args.micro}"]))
    runs["pytorch-fid"].append(_run_json([
        args.torch_python, os.path.join(REPO, "benchmarks", "inception_reference.py"), "bench",
        *common, f"--threads={os.cpu_count()}"]))
    print(json.dumps({k: v[-1] for k, v in runs.items()}), flush=True)
  med = {k: {"images_per_s": float(np.median([r["images_per_s"] for r in v])),
             "peak_rss_gb": float(np.median([r["peak_rss_gb"] for r in v]))}
         for k, v in runs.items()}
  print(json.dumps({"median": med, "speed_ratio": round(
      med["gan_jax"]["images_per_s"] / med["pytorch-fid"]["images_per_s"], 3),
      "memory_ratio": round(med["gan_jax"]["peak_rss_gb"] / med["pytorch-fid"]["peak_rss_gb"],
                            3), "load_avg": os.getloadavg()}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "compare"])
  parser.add_argument("--weights", default="")
  parser.add_argument("--batch", type=int, default=100)
  parser.add_argument("--batches", type=int, default=2)
  parser.add_argument("--size", type=int, default=32)
  parser.add_argument("--micro", type=int, default=inception.DEFAULT_MICRO_BATCH)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--torch_python", default="/work/torchvenv/bin/python")
  args = parser.parse_args()
  if args.mode == "compare":
    compare(args)
    return
  with tempfile.TemporaryDirectory() as tmp:
    weights = args.weights
    if not weights:
      from tests import torch_pth

      weights = os.path.join(tmp, "random.pth")
      torch_pth.save_state_dict(weights, torch_pth.random_fid_state_dict(0))
    features = inception.load(weights, batch_size=args.batch, micro_batch=args.micro)
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
                    "batch": args.batch, "micro": args.micro, "size": args.size,
                    "peak_rss_gb": round(peak_rss_gb(), 2),
                    "first_batch_s": round(compile_and_first, 2),
                    "batch_s": [round(t, 2) for t in times],
                    "images_per_s": round(args.batch / float(np.median(times)), 2)}))


if __name__ == "__main__":
  main()
