"""The evaluation of a run: image metrics through the feature classifier, and the CLI."""

from __future__ import annotations

import json
import os

import numpy as np

from gan_jax import classifier, configs, data, evaluation, experiment
from tests.helpers import run_module


def _digits_experiment(conditional: bool):
  c = configs.base_config()
  c.data.name = "digits"
  c.conditional = conditional
  c.train.batch_size = 8
  ds = data.load_dataset(c.data)
  return experiment.build(c, num_devices=1, dataset=ds)


def test_image_metrics_of_an_untrained_conditional_generator(tmp_path):
  exp = _digits_experiment(conditional=True)
  clf = classifier.get_classifier(exp.dataset, str(tmp_path), train_steps=60, log=lambda s: 0)
  result = evaluation.evaluate(exp, exp.init_state(), num=200, classifier=clf)
  for key in ("fcd", "fcd_floor", "kid", "precision", "recall", "density", "coverage",
              "classifier_score", "conditional_accuracy", "intra_class_fcd"):
    assert np.isfinite(result[key]), key
  # An untrained G is far from the data: its fcd lies well above the real-vs-real floor.
  assert result["fcd"] > 3 * result["fcd_floor"]
  assert 0.0 <= result["conditional_accuracy"] <= 1.0
  assert abs(sum(result["class_histogram"]) - 1.0) < 1e-6


def test_a_user_feature_fn_replaces_the_classifier(tmp_path):
  exp = _digits_experiment(conditional=False)
  pixels = lambda x: np.asarray(x).reshape(len(x), -1)[:, ::8]  # noqa: E731
  result = evaluation.evaluate_images(exp, exp.init_state(), num=100, feature_fn=pixels,
                                      classifier=None, cache_dir=str(tmp_path))
  assert np.isfinite(result["fcd"]) and "conditional_accuracy" not in result


def test_evaluate_cli_appends_to_metrics(tmp_path):
  workdir = str(tmp_path / "run")
  run_module("gan_jax.main", "--config=experiments/tiny.py", f"--workdir={workdir}",
             "--config.train.eval_at_end=False")
  proc = run_module("gan_jax.evaluate", f"--workdir={workdir}", "--num=400")
  printed = json.loads(proc.stdout.strip().splitlines()[-1])
  assert printed["step"] == 6 and printed["num_modes"] == 8
  assert 0.0 <= printed["high_quality_fraction"] <= 1.0
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    last = json.loads(f.readlines()[-1])
  assert last == printed
  # Inception features need images: an error line (after Orbax's INFO logs), exit 2, nothing
  # appended.
  proc = run_module("gan_jax.evaluate", f"--workdir={workdir}", "--features=inception",
                    check=False)
  assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
      "error: features='inception' needs an image dataset; data.name='mog_ring' holds 2-D "
      "points"), proc.stderr
  assert "Traceback" not in proc.stderr
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    assert json.loads(f.readlines()[-1]) == printed
