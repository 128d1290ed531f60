#!/usr/bin/env bash
# JAX (gan_jax.bench) against the PyTorch reference (benchmarks/torch_translation_bench.py) on the
# Pix2Pix and CycleGAN train steps of the shipped configs, alternating, as vs_torch.sh does for
# DCGAN.
#
#   TORCH_PYTHON=/work/torchvenv/bin/python bash benchmarks/vs_torch_translation.sh OUT ROUNDS
#
# Each round runs, per game, the JAX step then the reference (each the median of 3 repeats of
# 20 steps) and writes their JSON to OUT; the end prints the per-round and median ratios.
# TORCH_THREADS: torch.set_num_threads for the reference (default: torch's own choice).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 rounds=$2
mkdir -p "$out"
torch_python=${TORCH_PYTHON:?set TORCH_PYTHON to a Python that has torch}
declare -A configs=([pix2pix]=experiments/pix2pix_mnist_sr.py
                    [cyclegan]=experiments/cyclegan_digits2mnist.py)
for round in $(seq 1 "$rounds"); do
  for game in pix2pix cyclegan; do
    python -m gan_jax.bench --config="${configs[$game]}" --steps=20 --repeats=3 \
        --json="$out/jax_${game}_$round.json" > /dev/null
    "$torch_python" benchmarks/torch_translation_bench.py --game "$game" --steps 20 \
        --repeats 3 --threads "${TORCH_THREADS:-0}" --json "$out/torch_${game}_$round.json" \
        > /dev/null
  done
done
python - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
for game in ("pix2pix", "cyclegan"):
  rounds, r = [], 1
  while True:
    try:
      j = json.load(open(f"{out}/jax_{game}_{r}.json"))
      t = json.load(open(f"{out}/torch_{game}_{r}.json"))
    except FileNotFoundError:
      break
    rounds.append((j["steps_per_s_median"], t["steps_per_s_median"]))
    r += 1
  ratios = [a / b for a, b in rounds]
  print(json.dumps({"game": game, "jax_steps_per_s": [a for a, _ in rounds],
                    "torch_steps_per_s": [b for _, b in rounds],
                    "ratio_per_round": [round(x, 3) for x in ratios],
                    "median_ratio": round(statistics.median(ratios), 3) if ratios else None}))
PY
