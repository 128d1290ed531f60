"""End to end: gan_jax.main trains a few steps, writes its outputs, resumes exactly, samples."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

from tests.helpers import run_module

TINY = "--config=experiments/tiny.py"


def _params(workdir):
  """The latest checkpoint's G and D parameters as flat numpy arrays."""
  import jax

  from gan_jax import checkpointing, experiment

  config = experiment.load_workdir_config(workdir)
  exp = experiment.build(config, num_devices=1)
  ckpt = checkpointing.Checkpointer(workdir)
  state, step = ckpt.restore_latest(exp.init_state())
  ckpt.close()
  leaves = jax.tree.leaves((state.g_params, state.d_params, state.ema_g_params))
  return step, [np.asarray(x) for x in leaves]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("tiny"))
  proc = run_module("gan_jax.main", TINY, f"--workdir={workdir}")
  return workdir, proc


def test_main_writes_run_outputs(tiny_run):
  workdir, proc = tiny_run
  assert "step 6/6" in proc.stdout
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["objective"] == "non_saturating"
  records = [json.loads(x) for x in open(os.path.join(workdir, "metrics.jsonl"))]
  lines = [r for r in records if not r.get("eval")]
  assert [r["step"] for r in lines] == [2, 3, 4, 6]  # log_every=2, plus sample/ckpt at 3
  assert [r["step"] for r in records if r.get("eval")] == [6]  # train.eval_at_end
  assert [r["step"] for r in lines if "diversity_ratio" in r] == [3, 6]  # sample_every=3
  for key in ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "d_grad_norm",
              "g_param_norm", "d_param_norm", "steps_per_s", "g_logit_grad"):
    assert np.isfinite(lines[-1][key]), key
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
      "step_0000003.png", "step_0000006.png"]
  assert glob.glob(os.path.join(workdir, "tb", "events.out.tfevents.*"))
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6"]


def test_resume_equals_uninterrupted(tiny_run, tmp_path):
  """3 steps, stop, rerun to 6 steps == the 6-step run, bitwise, on CPU."""
  full_dir, _ = tiny_run
  part = str(tmp_path / "part")
  run_module("gan_jax.main", TINY, f"--workdir={part}", "--config.train.num_steps=3")
  proc = run_module("gan_jax.main", TINY, f"--workdir={part}")
  assert "resuming from step 3" in proc.stdout
  step_a, full = _params(full_dir)
  step_b, resumed = _params(part)
  assert step_a == step_b == 6
  for a, b in zip(full, resumed, strict=True):
    np.testing.assert_array_equal(a, b)


def test_rerun_of_finished_run_trains_nothing(tiny_run):
  workdir, _ = tiny_run
  proc = run_module("gan_jax.main", TINY, f"--workdir={workdir}")
  assert "resuming from step 6" in proc.stdout
  assert "step 6/6" not in proc.stdout


def test_sample_cli(tiny_run, tmp_path):
  workdir, _ = tiny_run
  out = str(tmp_path / "s.npz")
  run_module("gan_jax.sample", f"--workdir={workdir}", "--num=50", f"--out={out}")
  with np.load(out) as f:
    assert f["samples"].shape == (50, 2) and f["samples"].dtype == np.float32
    assert np.all(np.isfinite(f["samples"]))


def test_train_steps_make_no_implicit_host_device_transfers(tmp_path, monkeypatch):
  """Between logging steps the loop only dispatches: a transfer inside would raise here."""
  import jax

  from gan_jax import train
  from tests.helpers import load_config

  config = load_config(TINY.split("=", 1)[1])
  config.train.num_steps, config.train.log_every = 8, 4
  config.train.sample_every = config.train.checkpoint_every = 8
  config.train.eval_at_end = False
  monkeypatch.setattr(train, "STEP_TRANSFER_GUARD", "disallow")
  assert train.train_and_evaluate(config, str(tmp_path))["final_step"] == 8
  # The guard does bite: an implicit transfer of a host value into a jitted step raises.
  with jax.transfer_guard("disallow"):
    try:
      jax.jit(lambda x: x + 1)(np.ones(3))
    except Exception as e:  # noqa: BLE001 - JAX raises a runtime error subclass
      assert "Disallowed" in str(e)
    else:
      raise AssertionError("transfer_guard('disallow') let a host array through")
