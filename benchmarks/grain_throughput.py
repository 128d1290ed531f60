"""Loader throughput: batches/s of the grain pipeline against the in-memory one, on MNIST.

Writes an array_record copy of an MNIST npz (``write``), then times host batches of
``--batch_size`` (as the trainer asks for them: (batch, n_critic, 28, 28, 1) float32 and labels)
from each loader alone, alternating them ``--repeats`` times, and prints the medians. The
trainer's steps/s over the same file come from ``gan_jax.main`` with ``data.loader`` set.

  python benchmarks/grain_throughput.py --npz=/work/shared/datasets/mnist.npz \
      --out=/tmp/mnist_train.array_record --batch_size=256 --batches=200 --workers=0,2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from gan_jax import configs
from gan_jax.data import grain_loader, sampler, sources


def write(npz: str, out: str) -> None:
  """The npz's training split as an array_record file of ``grain_loader.encode`` records."""
  with np.load(npz) as f:
    grain_loader.write_array_record(out, f["x_train"], f["y_train"])


def _config(path: str, loader: str, batch_size: int, workers: int):
  c = configs.base_config()
  c.conditional = True
  c.data.name, c.data.path, c.data.loader = "mnist_records", path, loader
  c.data.grain_workers = workers
  c.train.batch_size = batch_size
  return c


def memory_batches_per_s(path: str, batch_size: int, num: int) -> float:
  c = _config(path, "memory", batch_size, 0)
  batch_fn = sampler.make_batch_fn(sources.load_dataset(c.data), batch_size=batch_size, n_critic=1,
                                seed=0, with_labels=True)
  batch_fn(0)
  start = time.perf_counter()
  for s in range(1, num + 1):
    batch_fn(s)
  return num / (time.perf_counter() - start)


def grain_batches_per_s(path: str, batch_size: int, num: int, workers: int) -> float:
  """Timed after the first batch (worker start-up excluded)."""
  c = _config(path, "grain", batch_size, workers)
  it = grain_loader.make_iterator(sources.load_dataset(c.data), c, process_index=0,
                                  process_count=1)
  try:
    next(it)
    start = time.perf_counter()
    for _ in range(num):
      next(it)
    return num / (time.perf_counter() - start)
  finally:
    it.close()


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--npz", default="/work/shared/datasets/mnist.npz")
  p.add_argument("--out", default="/tmp/mnist_train.array_record")
  p.add_argument("--batch_size", type=int, default=256)
  p.add_argument("--batches", type=int, default=200)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--workers", default="0,2", help="comma-separated grain worker counts")
  args = p.parse_args()
  if not os.path.exists(args.out):
    write(args.npz, args.out)
  workers = [int(w) for w in args.workers.split(",")]
  results = {"memory": []} | {f"grain workers={w}": [] for w in workers}
  for _ in range(args.repeats):  # alternate the loaders, so load drifts hit both alike
    results["memory"].append(memory_batches_per_s(args.out, args.batch_size, args.batches))
    for w in workers:
      results[f"grain workers={w}"].append(
          grain_batches_per_s(args.out, args.batch_size, args.batches, w))
  for name, values in results.items():
    print(f"{name}: median {statistics.median(values):.1f} batches/s of {args.batch_size} "
          f"(runs: {', '.join(f'{v:.1f}' for v in values)})", flush=True)


if __name__ == "__main__":
  main()
