"""Bad input to ``python -m gan_jax.main``: one line naming the field, exit 2, nothing written."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.helpers import run_module

TINY = "--config=experiments/tiny.py"


def _refused(workdir: str, *args, num_devices: int = 1) -> str:
  """Runs main with ``args``; asserts the one-line refusal and returns the line."""
  proc = run_module("gan_jax.main", TINY, f"--workdir={workdir}", *args,
                    num_devices=num_devices, check=False)
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode == 2, proc.stderr
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
  assert "Traceback" not in proc.stderr and not proc.stdout.strip()
  return lines[0]


@pytest.mark.parametrize("args,expected", [
    (["--config.objective=nope"], ["objective='nope'", "minimax, non_saturating, wgan"]),
    (["--config.model.name=nope"], ["model.name='nope'", "mlp, dcgan28, dcgan32"]),
    (["--config.train.batch_size=0"], ["train.batch_size=0", "positive"]),
    (["--config.train.num_steps=-1"], ["train.num_steps=-1", "positive"]),
    (["--config.optim.g_lr=0"], ["optim.g_lr=0", "positive"]),
    (["--config.conditional=True"], ["conditional=True", "no labels"]),
    (["--config.data.name=mnist", "--config.model.name=dcgan32"], ["dcgan32", "(28, 28, 1)"]),
    (["--config.data.path=/nonexistent/x.npz"], ["data.path='/nonexistent/x.npz'"]),
    (["--config.train.nope=1"], ["--config.train.nope", "no field 'nope'"]),
    (["--config.data.name=nope"], ["data.name='nope'", "mnist, digits, mog_ring"]),
    (["--config.parallel=vmap"], ["parallel='vmap'", "pmap, shard_map"]),
])
def test_bad_config_is_one_line_and_writes_nothing(tmp_path, args, expected):
  workdir = str(tmp_path / "run")
  line = _refused(workdir, *args)
  for fragment in expected:
    assert fragment in line, line
  assert not os.path.exists(workdir)


def test_global_batch_not_divisible_by_device_count(tmp_path):
  workdir = str(tmp_path / "run")
  line = _refused(workdir, "--config.train.batch_size=6", num_devices=4)
  assert "train.batch_size=6" in line and "4" in line
  assert not os.path.exists(workdir)


@pytest.mark.parametrize("arrays,expected", [
    ({"x": np.zeros((10, 28, 28), np.uint8)}, "x_train"),  # wrong keys
    ({"x_train": np.zeros((10, 28, 28), np.complex64)}, "complex64"),  # wrong dtype
    ({"x_train": np.zeros((10,), np.uint8)}, "(10,)"),  # wrong shape
])
def test_malformed_npz(tmp_path, arrays, expected):
  path = str(tmp_path / "bad.npz")
  np.savez(path, **arrays)
  workdir = str(tmp_path / "run")
  line = _refused(workdir, f"--config.data.path={path}")
  assert "data.path" in line and expected in line, line
  assert not os.path.exists(workdir)


def test_workdir_of_another_config(tmp_path):
  workdir = str(tmp_path / "run")
  run_module("gan_jax.main", TINY, f"--workdir={workdir}", "--config.train.eval_at_end=False")

  def snapshot():
    return {os.path.join(d, f): os.path.getmtime(os.path.join(d, f))
            for d, _, files in os.walk(workdir) for f in files}

  before = snapshot()
  line = _refused(workdir, "--config.optim.g_lr=0.5")
  assert "optim.g_lr" in line and "allow_config_change" in line, line
  assert snapshot() == before
  proc = run_module("gan_jax.main", TINY, f"--workdir={workdir}", "--config.optim.g_lr=0.5",
                    "--config.train.allow_config_change=True", "--config.train.num_steps=9",
                    "--config.train.eval_at_end=False")
  assert "resuming from step 6" in proc.stdout and "step 9/9" in proc.stdout
