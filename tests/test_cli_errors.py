"""Bad input to ``python -m gan_jax.main``: one line naming the field, exit 2, nothing written.

Each case runs main in a subprocess on the tiny ring config. A refusal must be exactly one
non-empty stderr line ``error: ...`` (no traceback, no absl/JAX warnings: none are printed before
the input is checked, so no line is filtered out), exit status 2, and the workdir must not have
been created, or be byte-for-byte unchanged when it already existed.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from gan_jax import losses, models
from tests.helpers import run_module, train_in_process

TINY = "--config=experiments/tiny.py"


def _refused(workdir: str, *args, num_devices: int = 1) -> str:
  """Runs main with ``args``; asserts the one-line refusal and returns the line."""
  proc = run_module("gan_jax.main", TINY, f"--workdir={workdir}", *args,
                    num_devices=num_devices, check=False)
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode == 2, proc.stderr
  assert "Traceback" not in proc.stderr, proc.stderr
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
  assert not proc.stdout.strip(), proc.stdout
  return lines[0]


def _snapshot(root: str) -> dict:
  """Every directory and file under ``root``: (mtime, sha256 of the contents) of each file."""
  out = {}
  for d, dirs, files in os.walk(root):
    for name in dirs:
      out[os.path.relpath(os.path.join(d, name), root) + "/"] = None
    for name in files:
      path = os.path.join(d, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, root)] = (os.stat(path).st_mtime_ns,
                                            hashlib.sha256(f.read()).hexdigest())
  return out


@pytest.mark.slow
@pytest.mark.parametrize("args,expected", [
    pytest.param(["--config.objective=nope"],
                 ["objective='nope'", "valid: " + ", ".join(losses.NAMES)], id="objective"),
    pytest.param(["--config.model.name=nope"],
                 ["model.name='nope'", "valid: " + ", ".join(models.NAMES)], id="model"),
    pytest.param(["--config.train.batch_size=0"], ["train.batch_size=0", "positive integer"],
                 id="batch_size"),
    pytest.param(["--config.train.num_steps=0"], ["train.num_steps=0", "positive integer"],
                 id="num_steps_zero"),
    pytest.param(["--config.train.num_steps=-1"], ["train.num_steps=-1", "positive integer"],
                 id="num_steps_negative"),
    pytest.param(["--config.optim.g_lr=0"], ["optim.g_lr=0", "positive number"], id="g_lr"),
    pytest.param(["--config.train.batch_size=abc"], ["--config.train.batch_size=abc", "int"],
                 id="batch_size_type"),
    pytest.param(["--config.conditional=True"],
                 ["conditional=True", "data.name='mog_ring' has no labels"], id="conditional"),
    pytest.param(["--config.data.name=mnist", "--config.model.name=dcgan32"],
                 ["model.name='dcgan32'", "(28, 28, 1)"], id="image_size"),
    pytest.param(["--config.data.name=npz", "--config.data.path=/nonexistent/x.npz"],
                 ["data.path='/nonexistent/x.npz' does not exist"], id="missing_path"),
    pytest.param(["--config.data.name=npz"], ["data.name='npz' needs data.path"],
                 id="npz_without_path"),
    pytest.param(["--config.data.name=nope"],
                 ["data.name='nope'", "mnist, digits, mog_ring, mog_grid, npz"], id="data_name"),
    pytest.param(["--config.parallel=vmap"], ["parallel='vmap'", "valid: pmap, shard_map"],
                 id="parallel"),
    pytest.param(["--config.train.eval_features=fcd"],
                 ["train.eval_features='fcd'", "valid: classifier, inception"],
                 id="eval_features"),
    pytest.param(["--config.train.nope=1"], ["--config.train.nope", "no field 'nope'"],
                 id="unknown_field"),
    pytest.param(["--config.nope=1"], ["--config.nope", "no field 'nope'"],
                 id="unknown_top_field"),
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
  assert "train.batch_size=6 is not divisible by the 4 devices" in line, line
  assert not os.path.exists(workdir)


@pytest.mark.slow
@pytest.mark.parametrize("arrays,expected", [
    pytest.param({"x": np.zeros((10, 28, 28), np.uint8)}, "lacks key(s) ['x_train']",
                 id="wrong_keys"),
    pytest.param({"x_train": np.zeros((10, 28, 28), np.complex64)}, "x_train must be uint8",
                 id="wrong_dtype"),
    pytest.param({"x_train": np.zeros((10,), np.uint8)}, "got uint8 (10,)", id="wrong_shape"),
    pytest.param({"x_train": np.zeros((20, 28, 28), np.uint8),
                  "y_train": np.zeros((20,), np.float32)}, "y_train must be integer labels",
                 id="float_labels"),
    pytest.param({"x_train": np.zeros((5, 28, 28), np.uint8)}, None, id="fewer_than_a_batch"),
    pytest.param(None, "is not a readable .npz file", id="not_an_npz"),
])
def test_malformed_npz(tmp_path, arrays, expected):
  path = str(tmp_path / "bad.npz")
  if arrays is None:
    with open(path, "wb") as f:
      f.write(b"not a zip archive")
  else:
    np.savez(path, **arrays)
  workdir = str(tmp_path / "run")
  line = _refused(workdir, "--config.data.name=npz", f"--config.data.path={path}")
  if expected is None:  # a readable file with fewer examples than train.batch_size=16
    assert "train.batch_size=16 exceeds the 5 training examples" in line, line
  else:
    assert f"data.path={path!r}" in line and expected in line, line
  assert not os.path.exists(workdir)


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    pytest.param(["--config.objective=nope"], id="config"),
    pytest.param(["--config.data.name=npz", "--config.data.path=/nonexistent/x.npz"], id="data"),
    pytest.param(["--config.train.nope=1"], id="flags"),
])
def test_existing_workdir_is_left_unchanged(tmp_path, args):
  workdir = tmp_path / "run"
  (workdir / "notes").mkdir(parents=True)
  (workdir / "notes" / "readme.txt").write_text("not a run\n")
  before = _snapshot(str(workdir))
  _refused(str(workdir), *args)
  assert _snapshot(str(workdir)) == before


@pytest.mark.slow
def test_workdir_of_another_config(tmp_path):
  workdir = str(tmp_path / "run")
  train_in_process(workdir, eval_at_end=False)
  before = _snapshot(workdir)
  assert "config.json" in before and any(k.startswith("checkpoints/") for k in before), before

  line = _refused(workdir, "--config.optim.g_lr=0.5")
  assert "holds a run with a different config (optim.g_lr: 0.001 -> 0.5)" in line, line
  assert "--config.train.allow_config_change=True" in line, line
  assert _snapshot(workdir) == before

  proc = run_module("gan_jax.main", TINY, f"--workdir={workdir}", "--config.optim.g_lr=0.5",
                    "--config.train.allow_config_change=True", "--config.train.num_steps=9",
                    "--config.train.eval_at_end=False", check=False)
  assert proc.returncode == 0, proc.stderr
  assert "resuming from step 6" in proc.stdout and "step 9/9" in proc.stdout, proc.stdout
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["optim"]["g_lr"] == 0.5
