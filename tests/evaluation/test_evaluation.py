"""The evaluation of a run: image metrics through the feature classifier, and the CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import configs
from gan_jax.data import sources
from gan_jax.evaluation import evaluator
from gan_jax.training import experiment
from tests.helpers import cached_classifier, run_module, train_in_process


def _digits_experiment(conditional: bool):
  c = configs.base_config()
  c.data.name = "digits"
  c.conditional = conditional
  c.train.batch_size = 8
  ds = sources.load_dataset(c.data)
  return experiment.build(c, num_devices=1, dataset=ds)


@pytest.fixture(scope="module")
def conditional_digits(tmp_path_factory):
  """(conditional digits experiment, a briefly trained classifier) shared by this module."""
  exp = _digits_experiment(conditional=True)
  return exp, cached_classifier(exp.dataset, str(tmp_path_factory.mktemp("clf")), 60)


@pytest.mark.slow
def test_image_metrics_of_an_untrained_conditional_generator(conditional_digits):
  exp, clf = conditional_digits
  result = evaluator.evaluate(exp, exp.init_state(), num=200, classifier=clf)
  for key in ("fcd", "fcd_floor", "kid", "precision", "recall", "density", "coverage",
              "classifier_score", "conditional_accuracy", "intra_class_fcd"):
    assert np.isfinite(result[key]), key
  # An untrained G is far from the data: its fcd lies well above the real-vs-real floor.
  assert result["fcd"] > 3 * result["fcd_floor"]
  assert 0.0 <= result["conditional_accuracy"] <= 1.0
  assert abs(sum(result["class_histogram"]) - 1.0) < 1e-6
  # CAS: a classifier trained on an untrained G's samples is near chance on the real test set;
  # the same recipe on as many real digits is not.
  assert result["cas"] < 0.3 < 0.8 < result["cas_real"]


class OracleGenerator:
  """G(z, c) = a real test image of class c (``shuffled``: of a class drawn from z instead),
  picked by z; stands in for a perfect conditional generator in ``exp.generator``."""

  def __init__(self, dataset, shuffled: bool = False):
    k = dataset.num_classes
    by_class = [dataset.test_x[dataset.test_y == c] for c in range(k)]
    m = min(len(x) for x in by_class)
    self.table = jnp.asarray(np.stack([x[:m] for x in by_class]))  # (K, M, H, W, C)
    self.shuffled = shuffled

  def apply(self, variables, z, labels, train=False):
    del variables, train
    k, m = self.table.shape[:2]
    index = (jnp.abs(z[:, 0]) * 1e4).astype(jnp.int32) % m
    if self.shuffled:
      labels = (jnp.abs(z[:, 1]) * 1e4).astype(jnp.int32) % k
    return self.table[labels, index]


def _with_generator(exp, generator):
  """``exp`` whose GAN game samples from ``generator``."""
  game = copy.copy(exp.game)
  game.generator = generator
  return dataclasses.replace(exp, game=game)


class CollapsedGenerator:
  """G(z, c) = one fixed image for every z and c."""

  def __init__(self, image):
    self.image = jnp.asarray(image)

  def apply(self, variables, z, labels, train=False):
    del variables, labels, train
    return jnp.broadcast_to(self.image, (z.shape[0],) + self.image.shape)


@pytest.mark.slow
def test_precision_and_recall_of_a_generator_collapsed_onto_one_real_image(conditional_digits):
  """Every fake is one image of the real set evaluate compares with: every fake lies in the real
  manifold (precision 1), and the fake manifold (k-NN radius 0 round that one point) holds only
  that real image (recall 1/200). Swapped arguments would give precision 1/200 and recall 1."""
  exp, clf = conditional_digits
  config = exp.config.copy_and_resolve_references()
  config.ema_bn_stats = "live"
  exp = dataclasses.replace(exp, config=config)
  num = 200
  one_real = evaluator._real_subset(exp.dataset.train_x, exp.dataset.train_y, num, 0)[0][0]
  collapsed = _with_generator(exp, CollapsedGenerator(one_real))
  result = evaluator.evaluate(collapsed, exp.init_state(), num=num, classifier=clf,
                               feature_fn=lambda x: np.asarray(x).reshape(len(x), -1))
  assert result["precision"] == 1.0
  assert result["recall"] < 0.05


@pytest.mark.slow
def test_image_metrics_of_an_oracle_conditional_generator(conditional_digits):
  """Real test images of the requested class: conditional accuracy ≈ the classifier's test
  accuracy, fcd ≈ the real-vs-real floor. Images of random classes: accuracy ≈ 1/10."""
  exp, clf = conditional_digits
  config = exp.config.copy_and_resolve_references()
  config.ema_bn_stats = "live"  # the oracle has no BatchNorm statistics to recompute
  exp = dataclasses.replace(exp, config=config)
  oracle = _with_generator(exp, OracleGenerator(exp.dataset))
  result = evaluator.evaluate(oracle, exp.init_state(), num=200, classifier=clf)
  assert result["conditional_accuracy"] == pytest.approx(clf.test_accuracy, abs=0.08)
  assert clf.test_accuracy > 0.5
  assert result["fcd"] < 1.5 * result["fcd_floor"]
  shuffled = _with_generator(exp, OracleGenerator(exp.dataset, shuffled=True))
  result = evaluator.evaluate(shuffled, exp.init_state(), num=200, classifier=clf)
  assert result["conditional_accuracy"] == pytest.approx(0.1, abs=0.07)


def test_a_user_feature_fn_replaces_the_classifier(tmp_path):
  """An unlabelled image dataset has no classifier to train: the metrics are in the user's
  feature space (here every 8th pixel), and without a feature_fn evaluation refuses."""
  exp = _digits_experiment(conditional=False)
  unlabelled = dataclasses.replace(exp.dataset, train_y=None, test_y=None, num_classes=0)
  exp = dataclasses.replace(exp, dataset=unlabelled)
  pixels = lambda x: np.asarray(x).reshape(len(x), -1)[:, ::8]  # noqa: E731
  result = evaluator.evaluate_images(exp, exp.init_state(), num=100, feature_fn=pixels,
                                      classifier=None, cache_dir=str(tmp_path))
  assert np.isfinite(result["fcd"]) and "conditional_accuracy" not in result
  assert "classifier_score" not in result and not os.listdir(tmp_path)  # no classifier made
  with pytest.raises(ValueError, match="needs a feature_fn"):
    evaluator.evaluate_images(exp, exp.init_state(), num=100, classifier=None)


@pytest.mark.slow
def test_evaluate_cli_appends_to_metrics(tmp_path):
  workdir = str(tmp_path / "run")
  train_in_process(workdir, eval_at_end=False)
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
  # Truncation is StyleGAN2's: refused for this game, in one line.
  for module in ("gan_jax.evaluate", "gan_jax.sample"):
    proc = run_module(module, f"--workdir={workdir}", "--truncation=0.7",
                      f"--out={tmp_path / 'x.npz'}" if module == "gan_jax.sample" else "--num=400",
                      check=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "error: --truncation applies to game='stylegan2' runs, not 'gan'"), proc.stderr
  assert not os.path.exists(tmp_path / "x.npz")
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    assert json.loads(f.readlines()[-1]) == printed
