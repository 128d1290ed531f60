"""Fault tolerance: kill -9 and rerun, damaged checkpoints, and the non-finite guard."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.helpers import REPO, compile_cache_env, cpu_env, run_module

TINY = "--config=experiments/tiny.py"
NO_EVAL = "--config.train.eval_at_end=False"


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict:
  """A persistent compilation cache shared by this module's runs (they compile the same step)."""
  return compile_cache_env(tmp_path_factory.getbasetemp() / "jax_compilation_cache")


def _main(workdir, *args, cache_env, check=True):
  return run_module("gan_jax.main", TINY, f"--workdir={workdir}", NO_EVAL, *args, check=check,
                    **cache_env)


def _restore(workdir):
  """(step, state) of the workdir's latest readable checkpoint."""
  from gan_jax.training import experiment

  _, state, step = experiment.load_run(workdir)
  return step, state


def _params(state) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(
      (state.g_params, state.d_params, state.ema_g_params))]


def _steps(workdir) -> list[int]:
  return sorted(int(n) for n in os.listdir(os.path.join(workdir, "checkpoints")) if n.isdigit())


# The victim: gan_jax.main that SIGKILLs itself just after starting the save of step 200 (with
# step 100 committed), so the kill lands mid-save at the same point on any machine, fast or slow.
KILLED_MID_SAVE = """
import os, runpy, signal, sys
from gan_jax.training import checkpointing
save = checkpointing.Checkpointer.save
def save_then_die(self, step, state, data_state=None):
  if step == 200:
    self.wait()
  save(self, step, state, data_state)
  if step == 200:
    os.kill(os.getpid(), signal.SIGKILL)
checkpointing.Checkpointer.save = save_then_die
sys.argv = ["gan_jax.main", *sys.argv[1:]]
runpy.run_module("gan_jax.main", run_name="__main__")
"""


@pytest.mark.slow
def test_kill_9_then_rerun_equals_uninterrupted(tmp_path, cache_env):
  """SIGKILL while the second checkpoint is being written, rerun the same command: the
  uninterrupted result."""
  args = [TINY, NO_EVAL, "--config.train.num_steps=1000", "--config.train.checkpoint_every=100",
          "--config.train.log_every=100", "--config.train.sample_every=1000"]
  killed, full = str(tmp_path / "killed"), str(tmp_path / "full")

  def start(workdir, *prefix):
    return subprocess.Popen(
        [sys.executable, *prefix, *args, f"--workdir={workdir}"], cwd=REPO,
        env=cpu_env(1, **cache_env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)

  reference, victim = start(full, "-m", "gan_jax.main"), start(killed, "-c", KILLED_MID_SAVE)
  try:
    _, stderr = victim.communicate(timeout=240)
  finally:
    victim.kill()
  assert victim.returncode == -signal.SIGKILL, stderr
  assert 100 in _steps(killed) and max(_steps(killed)) <= 200

  proc = run_module("gan_jax.main", *args, f"--workdir={killed}", **cache_env)
  assert "resuming from step" in proc.stdout and "step 1000/1000" in proc.stdout
  assert reference.wait(timeout=300) == 0, reference.communicate()[1]
  (step_a, full_state), (step_b, resumed_state) = _restore(full), _restore(killed)
  assert step_a == step_b == 1000
  for a, b in zip(_params(full_state), _params(resumed_state), strict=True):
    np.testing.assert_array_equal(a, b)


def _damage(step_dir: str) -> list[str]:
  """Overwrites the middle of every array data file of a checkpoint step; returns the files."""
  files = glob.glob(os.path.join(step_dir, "default", "**", "d", "*"), recursive=True)
  assert files, step_dir
  for path in files:
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
      f.seek(size // 2)
      f.write(b"\x5a" * min(16, size - size // 2))
  return files


@pytest.mark.slow
def test_damaged_checkpoint_falls_back_then_refuses(tmp_path, cache_env):
  workdir = str(tmp_path / "run")
  _main(workdir, cache_env=cache_env)
  assert _steps(workdir) == [3, 6]
  _damage(os.path.join(workdir, "checkpoints", "6"))

  proc = _main(workdir, "--config.train.num_steps=9", cache_env=cache_env)
  warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
  assert len(warnings) == 1 and "checkpoint step 6 is unreadable" in warnings[0], proc.stderr
  assert "falling back to step 3" in warnings[0]
  assert "resuming from step 3" in proc.stdout and "step 9/9" in proc.stdout
  assert _steps(workdir) == [3, 6, 9]  # step 6 saved anew, the damaged one set aside
  assert os.path.isdir(os.path.join(workdir, "checkpoints", "6.unreadable"))
  assert _restore(workdir)[0] == 9

  for step in _steps(workdir):
    _damage(os.path.join(workdir, "checkpoints", str(step)))
  before = sorted(os.listdir(workdir))
  proc = _main(workdir, "--config.train.num_steps=12", cache_env=cache_env, check=False)
  assert proc.returncode == 2, proc.stderr
  errors = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
  assert len(errors) == 1 and errors[0].startswith("error: every checkpoint"), proc.stderr
  assert "refusing to start from scratch" in errors[0]
  assert "Traceback" not in proc.stderr and "step 1/" not in proc.stdout
  assert sorted(os.listdir(workdir)) == before and _steps(workdir) == [3, 6, 9]


@pytest.mark.slow
def test_nonfinite_stops_and_keeps_last_good_checkpoint(tmp_path, cache_env):
  workdir = str(tmp_path / "run")
  _main(workdir, "--config.train.num_steps=3", cache_env=cache_env)
  absurd = ["--config.optim.d_lr=1e30", "--config.optim.g_lr=1e30",
            "--config.train.allow_config_change=True"]
  proc = _main(workdir, *absurd, cache_env=cache_env, check=False)
  assert proc.returncode == 1, proc.stderr
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
  assert errors[0].startswith("error: step 4: ") and "is not finite" in errors[0]
  assert "last good checkpoint: step 3" in errors[0]
  assert _steps(workdir) == [3]
  step, state = _restore(workdir)  # restore_latest also rejects non-finite leaves
  assert step == 3
  assert all(np.all(np.isfinite(x)) for x in _params(state))

  proc = _main(workdir, *absurd, "--config.train.skip_nonfinite=True", cache_env=cache_env)
  assert "step 6/6" in proc.stdout
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  records = [r for r in records if not r.get("eval")]  # training lines only
  assert records[-1]["step"] == 6 and records[-1]["skipped_updates"] > 0
  step, state = _restore(workdir)
  assert step == 6 and int(state.skipped_updates) == records[-1]["skipped_updates"]
  assert all(np.all(np.isfinite(x)) for x in _params(state))


def test_checkpointer_refuses_to_save_a_nonfinite_state(tmp_path):
  from gan_jax.training import checkpointing

  ckpt = checkpointing.Checkpointer(str(tmp_path))
  state = {"w": np.ones(3, np.float32), "step": np.int32(1)}
  ckpt.save(1, state)
  ckpt.wait()
  with pytest.raises(checkpointing.NonFiniteStateError, match=r"step 2: \['w'\] is not finite"):
    ckpt.save(2, {"w": np.array([1.0, np.nan, 0.0], np.float32), "step": np.int32(2)})
  ckpt.wait()
  assert ckpt.manager.all_steps() == [1]
  ckpt.close()


def test_a_changed_byte_is_caught_by_the_digest(tmp_path):
  """Damage that Orbax reads back without complaint (uncompressed array bytes)."""
  import orbax.checkpoint as ocp

  from gan_jax.training import checkpointing

  ckpt = checkpointing.Checkpointer(str(tmp_path))
  state = {"w": np.arange(4096, dtype=np.float32)}
  ckpt.save(1, state)
  ckpt.save(2, {"w": state["w"] + 1})
  ckpt.wait()
  ckpt.close()
  files = glob.glob(str(tmp_path / "checkpoints" / "2" / "default" / "**" / "d" / "*"),
                    recursive=True)
  largest = max(files, key=os.path.getsize)
  with open(largest, "r+b") as f:
    f.seek(os.path.getsize(largest) // 2)
    f.write(b"\x01\x02\x03\x04")
  ckpt = checkpointing.Checkpointer(str(tmp_path))
  unchecked = ckpt.manager.restore(2, args=ocp.args.StandardRestore(state))
  assert not np.array_equal(unchecked["w"], state["w"] + 1)  # Orbax reads it without an error
  restored, step = ckpt.restore_latest(state)
  ckpt.close()
  assert step == 1
  np.testing.assert_array_equal(restored["w"], state["w"])
