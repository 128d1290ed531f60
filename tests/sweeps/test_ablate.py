"""gan_jax.ablate: sweep expansion, and a tiny sweep end to end (table, files, skip, divergence)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import textwrap

import ml_collections
import pytest

from gan_jax import configs
from gan_jax.errors import ConfigError
from gan_jax.sweeps import report, runner
from gan_jax.sweeps import spec as sweep_spec
from tests.helpers import REPO, run_module

# Two objectives × two seeds on a tiny ring MLP, plus an Adam step of 1e30 that must overflow.
SWEEP_FILE = textwrap.dedent("""
    from gan_jax import configs
    from gan_jax.sweeps import spec


    def get_config():
      base = configs.use_ring(configs.base_config())
      base.model.width, base.model.depth, base.model.z_dim = 16, 1, 2
      base.train.batch_size, base.train.num_steps = 16, 4
      base.train.log_every = base.train.sample_every = base.train.checkpoint_every = 2
      base.train.eval_num = 200
      c = spec.ablation_config(base)
      c.sweep.variants.minimax = {"objective": "minimax"}
      c.sweep.variants.exploding = {"optim": {"d_lr": 1e30, "g_lr": 1e30}}
      c.sweep.variants.non_saturating = {"objective": "non_saturating"}
      c.sweep.variant_names = ("minimax", "exploding", "non_saturating")
      c.sweep.axes.seed = (0, 1)
      return c
""")
NAMES = ["minimax_seed0", "exploding_seed0", "non_saturating_seed0",
         "minimax_seed1", "exploding_seed1", "non_saturating_seed1"]


def _load_config(path):
  spec = importlib.util.spec_from_file_location("sweep_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
  """The sweep run once from the command line: (config file, workdir, results, stdout)."""
  root = tmp_path_factory.mktemp("ablate")
  config_path = root / "sweep.py"
  config_path.write_text(SWEEP_FILE)
  workdir = str(root / "work")
  proc = run_module("gan_jax.ablate", f"--config={config_path}", f"--workdir={workdir}")
  results = [runner.load_result(runner.run_dir(workdir, name)) for name in NAMES]
  return str(config_path), workdir, results, proc.stdout


@pytest.mark.slow
def test_sweep_table_rows_and_statuses(sweep):
  _, workdir, results, stdout = sweep
  assert stdout.count(": train {") == len(NAMES)
  assert "4 ok, 2 diverged, 0 failed" in stdout
  assert [r["name"] for r in results] == NAMES
  by_name = {r["name"]: r for r in results}
  for name in NAMES:
    r = by_name[name]
    if name.startswith("exploding"):  # recorded as diverged, and the sweep went on
      assert r["status"] == "diverged" and r["diverged_step"] in (1, 2), r
      assert r["eval"] == {}
    else:
      assert r["status"] == "ok", r
      assert 0 <= r["eval"]["modes_captured"] <= 8
      assert 0.0 <= r["eval"]["high_quality_fraction"] <= 1.0
      assert r["wall_s"] > 0
    assert os.path.isfile(os.path.join(workdir, "runs", name, "result.json"))
  with open(os.path.join(workdir, "results.csv")) as f:
    rows = list(csv.DictReader(f))
  assert [r["name"] for r in rows] == NAMES
  assert {"variant", "seed", "status", "diverged_step", "wall_s", "modes_captured",
          "mode_kl", "train_g_grad_norm"} <= set(rows[0])
  assert rows[1]["status"] == "diverged" and rows[0]["status"] == "ok"
  md = open(os.path.join(workdir, "results.md")).read()
  assert "Mean ± std over seeds" in md and "| non_saturating |" in md
  assert "exploding_seed1: diverged: step" in md


@pytest.mark.slow
def test_group_summary_means_over_seeds(sweep):
  _, _, results, _ = sweep
  summary = {g["group"]: g for g in report.group_summary(results)}
  assert list(summary) == ["minimax", "exploding", "non_saturating"]
  ns = [r["eval"]["mode_kl"] for r in results if r["group"] == "non_saturating"]
  mean, std = summary["non_saturating"]["mode_kl"]
  assert mean == pytest.approx(sum(ns) / 2)
  assert std == pytest.approx(abs(ns[0] - ns[1]) / 2 ** 0.5)
  assert (summary["exploding"]["runs"], summary["exploding"]["diverged"]) == (2, 2)


@pytest.mark.slow
def test_plots_are_png_files(sweep):
  _, workdir, _, _ = sweep
  for name in ("curves.png", "grad_norms.png", "samples.png"):
    path = os.path.join(workdir, name)
    with open(path, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
    assert os.path.getsize(path) > 5000, name


@pytest.mark.slow
def test_run_dirs_are_normal_runs(sweep):
  _, workdir, _, _ = sweep
  run = os.path.join(workdir, "runs", "non_saturating_seed1")
  with open(os.path.join(run, "config.json")) as f:
    saved = json.load(f)
  assert (saved["objective"], saved["seed"]) == ("non_saturating", 1)
  records = [json.loads(x) for x in open(os.path.join(run, "metrics.jsonl"))]
  assert records[-1]["eval"] is True and "modes_captured" in records[-1]
  assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ["2", "4"]


@pytest.mark.slow
def test_rerun_from_the_command_line_skips_finished_runs(sweep):
  config_path, workdir, _, _ = sweep
  assert os.listdir(os.path.join(workdir, "compile_cache"))  # seeds 1 reuse seeds 0's programs
  stamps = {n: os.path.getmtime(os.path.join(workdir, "runs", n, "result.json")) for n in NAMES}
  proc = run_module("gan_jax.ablate", f"--config={config_path}", f"--workdir={workdir}")
  assert proc.stdout.count(": skip (finished: ") == len(NAMES), proc.stdout
  assert ": train " not in proc.stdout and "compiled the train step" not in proc.stdout
  assert "4 ok, 2 diverged, 0 failed" in proc.stdout
  for name, stamp in stamps.items():
    assert os.path.getmtime(os.path.join(workdir, "runs", name, "result.json")) == stamp


@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(sweep, tmp_path):
  config_path, _, _, _ = sweep
  proc = run_module("gan_jax.ablate", f"--config={config_path}", f"--workdir={tmp_path}",
                    "--config.sweep.variants.minimax.objective=nope", check=False)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: run minimax_seed0: objective='nope'")
  assert not os.listdir(tmp_path)  # nothing trained or written


# ---- Sweep expansion (no training) -----------------------------------------------------------


def _sweep(**axes):
  c = sweep_spec.ablation_config(configs.base_config())
  for field, values in axes.items():
    c.sweep.axes[field] = values
  return c


def test_axes_cross_product_seed_outermost():
  c = _sweep(objective=("minimax", "hinge"), seed=(3, 4))
  c.sweep.axes.model = ml_collections.ConfigDict({"spectral_norm": (False, True)})
  runs = sweep_spec.expand_sweep(c)
  assert [r.name for r in runs[:4]] == [  # axes nest in the alphabetical order of their fields
      "spectral_normFalse_minimax_seed3", "spectral_normFalse_hinge_seed3",
      "spectral_normTrue_minimax_seed3", "spectral_normTrue_hinge_seed3"]
  assert len(runs) == 8 and {r.seed for r in runs[4:]} == {4}
  r = runs[3]
  assert (r.config.objective, r.config.model.spectral_norm, r.config.seed) == ("hinge", True, 3)
  assert r.group == "spectral_normTrue_hinge"
  assert r.settings == {"objective": "hinge", "model.spectral_norm": True, "seed": 3}
  assert c.base.objective == "non_saturating"  # the base is not modified


def test_variants_times_seeds():
  c = _sweep(seed=(0, 1))
  c.sweep.variants.none = {}
  c.sweep.variants.noise = {"reg": {"instance_noise_std": 0.1}}
  runs = sweep_spec.expand_sweep(c)
  assert [r.name for r in runs] == ["noise_seed0", "none_seed0", "noise_seed1", "none_seed1"]
  assert runs[0].config.reg.instance_noise_std == 0.1
  assert runs[1].config.reg.instance_noise_std == 0.0
  c.sweep.variant_names = ("none",)
  assert [r.name for r in sweep_spec.expand_sweep(c)] == ["none_seed0", "none_seed1"]


@pytest.mark.parametrize("change, message", [
    (lambda c: c.sweep.variants.update({"v": {"reg": {"nope": 1.0}}}), "'reg.nope', which is"),
    (lambda c: c.sweep.variants.update({"v": {"train": {"num_steps": 0.5}}}), "num_steps=0.5"),
    (lambda c: c.sweep.variants.update({"v": {"seed": 5}}), "both set seed"),
    (lambda c: setattr(c.sweep, "variant_names", ("w",)), "unknown variants ['w']"),
    (lambda c: setattr(c.sweep.axes, "seed", ()), "non-empty tuple"),
    (lambda c: setattr(c.sweep.axes, "seed", (0, 0)), "repeats a value"),
    (lambda c: setattr(c.sweep.axes, "seed", (-1,)), "non-negative integers"),
])
def test_bad_sweeps_raise_config_error(change, message):
  c = _sweep(seed=(0, 1))
  change(c)
  with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
    sweep_spec.expand_sweep(c)


def test_shipped_configs_expand():
  expected = {("ablation_losses", None): 15, ("ablation_losses", "mnist"): 15,
              ("ablation_regularisers", None): 18, ("ablation_cgan", "digits"): 12,
              ("ablation_cgan", None): 12, ("ablation_cifar_losses", None): 15,
              ("ablation_cgan_recipe", None): 8}
  for (name, arg), count in expected.items():
    path = os.path.join(REPO, "experiments", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runs = sweep_spec.expand_sweep(module.get_config(arg))
    assert len(runs) == count, name
    for r in runs:
      configs.validate(r.config, num_devices=1)
