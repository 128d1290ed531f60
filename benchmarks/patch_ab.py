"""A/B of the patch path of gan_jax.ops.conv on the whole train step, in one process.

Builds the train step twice, with the patch path (the default: wide strided convolutions as
matrix products on im2col patches) and without it (those convolutions as XLA convolutions), and
alternates their timed repeats so that the machine's noise hits both alike. Prints one JSON
object: each variant's steps/s per repeat and the median of the per-repeat ratios.

  python benchmarks/patch_ab.py --config=experiments/nonsaturating.py [--repeats=8] [--steps=20]

It takes gan_jax.bench's flags (--config and its overrides, --steps, --repeats, --warmup).
"""

from __future__ import annotations

import json
import statistics

from absl import app, logging

from gan_jax import bench, cli
from gan_jax.ops import conv as layers

FLAGS = bench.FLAGS
VARIANTS = {"patches": layers._MIN_PATCH_CHANNELS, "convolutions": 10**9}


def build(config, min_patch_channels: int):
  """[compiled step, state, batch, key] with the patch path on from this many channels."""
  layers._MIN_PATCH_CHANNELS = min_patch_channels  # read when the step is traced, just below
  par, _, step_fn, state, batch, key = bench.setup(config)
  compiled, _, _, state, _ = bench._compile_and_warm(
      par, step_fn, state, batch, key, FLAGS.warmup)
  return [compiled, state, batch, key]


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  if FLAGS.config is None:
    cli.fail("--config is required, e.g. --config=experiments/nonsaturating.py")
  runs = {name: build(FLAGS.config, n) for name, n in VARIANTS.items()}
  rates = {name: [] for name in VARIANTS}
  for _ in range(FLAGS.repeats):
    for name, run in runs.items():
      rate, run[1] = bench._time(run[0], run[1], run[2], run[3], steps=FLAGS.steps)
      rates[name].append(round(rate, 3))
  ratio = statistics.median(
      a / b for a, b in zip(rates["patches"], rates["convolutions"], strict=True))
  print(json.dumps({"objective": FLAGS.config.objective, "steps_per_s": rates,
                    "median_ratio_patches_over_convolutions": round(ratio, 3)}))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
