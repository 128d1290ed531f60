"""Checkpoints written by the flat layout (commit ac0ca04) restore and resume with today's code."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from gan_jax.training import experiment, loop
from tests.helpers import FIXTURES

DATA = os.path.join(FIXTURES, "old_checkpoints")


@pytest.mark.parametrize("name", ["tiny", "cond"])
def test_old_layout_checkpoint_resumes_to_the_losses_the_old_code_reached(tmp_path, name):
  """The step-6 checkpoint resumes (no fresh start) and steps 7-9 give the step-9 record that
  the old trainer logged resuming it (expected.json)."""
  workdir = str(tmp_path / name)
  shutil.copytree(os.path.join(DATA, name), workdir)
  with open(os.path.join(DATA, "expected.json")) as f:
    expected = json.load(f)[name]
  config = experiment.load_workdir_config(workdir)
  config.train.num_steps, config.train.eval_at_end = 9, False
  summary = loop.train_and_evaluate(config, workdir)
  assert int(summary["state"].step) == 9
  assert [r["step"] for r in summary["history"]] == [8, 9]  # resumed at 6, not from scratch
  last = summary["history"][-1]
  for k in ("d_loss", "g_loss", "g_param_norm", "d_param_norm"):
    assert last[k] == pytest.approx(expected[k], rel=1e-5), k
