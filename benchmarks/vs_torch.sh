#!/usr/bin/env bash
# JAX (gan_jax.bench) against the PyTorch reference on the same DCGAN-28 step, alternating.
#
#   TORCH_PYTHON=/tmp/torchref/bin/python bash benchmarks/vs_torch.sh OUT_DIR ROUNDS [ns] [wg]
#
# Each round runs, per objective, the JAX step then the reference (each the median of 5 repeats
# of 20 steps), writes their JSON to OUT_DIR, and the end prints the per-round and median ratios.
# TORCH_PYTHON: a Python with torch (`pip install torch==2.13.0` in its own virtualenv; torch is
# never a dependency of gan_jax). EXTRA: more flags for gan_jax.bench, e.g.
# EXTRA=--config.model.conv_impl=stock.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 rounds=$2
shift 2
mkdir -p "$out"
torch_python=${TORCH_PYTHON:?set TORCH_PYTHON to a Python that has torch}
reference=../shared/reference/torch_dcgan_bench.py
common=(--config.train.batch_size=64 --steps=20 --repeats=5)
# WGAN-GP as the reference runs it: one critic step, Adam(2e-4, β=(0.5, 0.999)) for both.
wgan=(--config=experiments/wgan_gp.py --config.train.n_critic=1 --config.optim.b1=0.5
      --config.optim.b2=0.999 --config.optim.g_lr=2e-4 --config.optim.d_lr=2e-4)
for round in $(seq 1 "$rounds"); do
  for objective in "$@"; do
    if [ "$objective" = ns ]; then jax_flags=(--config=experiments/nonsaturating.py) loss=ns
    else jax_flags=("${wgan[@]}") loss=wgangp; fi
    python -m gan_jax.bench "${jax_flags[@]}" "${common[@]}" ${EXTRA:-} \
        --json="$out/jax_${objective}_$round.json" > /dev/null
    "$torch_python" "$reference" --loss "$loss" --batch 64 --steps 20 --repeats 5 \
        --json "$out/torch_${objective}_$round.json" > /dev/null
  done
done
python - "$out" "$@" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
for objective in sys.argv[2:]:
  rounds = []
  r = 1
  while True:
    try:
      jax_run = json.load(open(f"{out}/jax_{objective}_{r}.json"))
      torch_run = json.load(open(f"{out}/torch_{objective}_{r}.json"))
    except FileNotFoundError:
      break
    rounds.append((jax_run["steps_per_s_median"], torch_run["steps_per_s_median"],
                   jax_run["compile_s"]))
    r += 1
  ratios = [j / t for j, t, _ in rounds]
  print(json.dumps({
      "objective": objective, "jax_steps_per_s": [j for j, _, _ in rounds],
      "torch_steps_per_s": [t for _, t, _ in rounds],
      "ratio_per_round": [round(x, 3) for x in ratios],
      "median_ratio": round(statistics.median(ratios), 3),
      "jax_compile_s": [c for _, _, c in rounds]}))
EOF
