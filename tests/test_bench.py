"""The benchmark CLI prints one JSON object with timings of the compiled step."""

import json

import pytest

from tests.helpers import run_module


@pytest.mark.slow
def test_bench_prints_timings_and_vmapped_seeds():
  proc = run_module("gan_jax.bench", "--config=experiments/tiny.py", "--steps=3", "--repeats=2",
                    "--warmup=1", "--seeds=2")
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result["model"] == "mlp" and result["batch"] == 16 and result["finite"]
  # Trainable parameters of tiny's MLPs (width 32, depth 2, z 4, 2-D points):
  # G 4·32+32 + 32·32+32 + 32·2+2 = 1282; D 2·32+32 + 32·32+32 + 32+1 = 1185.
  assert (result["g_params"], result["d_params"]) == (1282, 1185)
  assert len(result["steps_per_s_all"]) == 2 and len(result["vmap_seed_steps_per_s_all"]) == 2
  # Timings are rounded to 1 ms: on a fast machine the first step can print as 0.0.
  rates = result["steps_per_s_all"]
  assert result["steps_per_s_min"] == min(rates) and result["steps_per_s_max"] == max(rates)
  assert min(rates) <= result["steps_per_s_median"] <= max(rates)
  assert all(r > 0 for r in rates + result["vmap_seed_steps_per_s_all"])
  assert result["compile_s"] > 0 and result["first_step_s"] >= 0 and result["vmap_speedup"] > 0


def test_bench_rejects_non_positive_steps():
  proc = run_module("gan_jax.bench", "--config=experiments/tiny.py", "--steps=0", check=False)
  assert proc.returncode == 2 and "--steps" in proc.stderr
