"""The trainer's log across a crash and resume, and its stop after too many skipped updates."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from gan_jax.training import loop, writers
from tests.helpers import load_config

# Metrics that depend on the wall clock, not on the run.
TIMING = ("steps_per_s",)


def _config(**train_fields):
  c = load_config("experiments/tiny.py")
  c.train.eval_at_end = False
  c.train.log_every = 1
  c.train.sample_every = 100
  for k, v in train_fields.items():
    c.train[k] = v
  return c


def _records(workdir):
  with open(os.path.join(workdir, writers.METRICS_FILE)) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def test_crash_and_resume_logs_each_step_once_and_carries_the_history_on(tmp_path):
  """A run that logged steps 4-5 after its checkpoint at 3 and died: the resumed run drops
  those lines, logs them again, and its records and summary equal an uninterrupted run's."""
  full, crashed = str(tmp_path / "full"), str(tmp_path / "crashed")
  full_summary = loop.train_and_evaluate(_config(num_steps=6), full)
  loop.train_and_evaluate(_config(num_steps=5), crashed)
  shutil.rmtree(os.path.join(crashed, "checkpoints", "5"))  # died before saving step 5
  assert [r["step"] for r in _records(crashed)] == [1, 2, 3, 4, 5]
  resumed_summary = loop.train_and_evaluate(_config(num_steps=6), crashed)

  records = _records(crashed)
  assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
  assert records == _records(full)  # window statistics included: the history carried on
  assert [r["step"] for r in resumed_summary["history"]] == [1, 2, 3, 4, 5, 6]
  assert resumed_summary["diagnostics"] == full_summary["diagnostics"]
  with open(os.path.join(crashed, writers.SUMMARY_FILE)) as f:
    assert json.load(f)["diagnostics"] == full_summary["diagnostics"]


def test_skipping_nonfinite_updates_stops_after_max_consecutive_skips(tmp_path):
  """With absurd learning rates every step has a non-finite update (step 1's G update meets the D
  its D update blew up): skip_nonfinite skips them, and the run stops with one line after
  max_consecutive_skips steps in a row."""
  c = _config(num_steps=50, checkpoint_every=50, log_every=5, skip_nonfinite=True,
              max_consecutive_skips=7)
  c.optim.d_lr = c.optim.g_lr = 1e30
  with pytest.raises(loop.NonFiniteError) as e:
    loop.train_and_evaluate(c, str(tmp_path / "run"))
  message = str(e.value)
  assert "\n" not in message
  assert message.startswith("step 7: 7 train steps in a row skipped a non-finite update")
  assert "train.max_consecutive_skips" in message
  assert (e.value.step, e.value.quantity) == (7, "skipped updates")  # what the sweep runner reads
