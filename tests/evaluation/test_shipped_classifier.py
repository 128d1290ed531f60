"""The MNIST and Fashion-MNIST feature classifiers ship with the package: no training on a fresh
machine, and the image path of the mode-collapse flag measured with it."""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np
import pytest

from gan_jax.data import idx, sources
from gan_jax.evaluation import classifier, evaluator, sampling
from gan_jax.training import experiment
from tests.helpers import load_config

# Each shipped classifier's test accuracy is at least the first (the recipe's on each dataset),
# and its accuracy on the first 2000 test images above the second.
MIN_TEST_ACCURACY = {"mnist": (0.99, 0.98), "fashion_mnist": (0.91, 0.89)}


def _load(name):
  if name == "fashion_mnist" and not idx.has_idx_dir(idx.DEBIAN_FASHION_MNIST):
    pytest.skip(f"Debian's dataset-fashion-mnist is not installed at {idx.DEBIAN_FASHION_MNIST}")
  return sources.load_dataset(ml_collections.ConfigDict({"name": name, "path": ""}))


@pytest.fixture(scope="module")
def mnist():
  return _load("mnist")


def _no_training(*args, **kwargs):
  raise AssertionError("trained a classifier")


def test_every_shipped_dataset_has_its_classifier_file():
  for name in classifier.SHIPPED_DATASETS:
    path = classifier.shipped_path(name)
    assert os.path.getsize(path) < 2_000_000, path
    with np.load(path) as f:  # no pickle: the meta is a unicode array
      assert json.loads(str(f["__meta__"]))["dataset"] == name


@pytest.mark.parametrize("name", classifier.SHIPPED_DATASETS)
def test_shipped_classifier_is_used_without_training(name, tmp_path, monkeypatch):
  dataset = _load(name)
  monkeypatch.setattr(classifier, "train_classifier", _no_training)
  clf = classifier.get_classifier(dataset, cache_dir=str(tmp_path))
  with np.load(classifier.shipped_path(name)) as f:
    meta = json.loads(str(f["__meta__"]))
  assert meta["fingerprint"] == classifier.dataset_fingerprint(
      dataset, classifier.default_train_steps(len(dataset.train_x)))
  on_all, on_subset = MIN_TEST_ACCURACY[name]
  assert clf.test_accuracy == meta["test_accuracy"] >= on_all
  assert clf.accuracy(dataset.test_x[:2000], dataset.test_y[:2000]) > on_subset
  assert not (tmp_path / "classifier").exists()  # nothing cached either


def test_other_data_does_not_use_the_shipped_classifier(mnist, tmp_path, monkeypatch):
  calls, real_training = [], classifier.train_classifier

  def tiny_training(dataset, *, train_steps, **kwargs):
    calls.append(train_steps)
    return real_training(dataset, train_steps=2, **kwargs)

  monkeypatch.setattr(classifier, "train_classifier", tiny_training)
  subset = sources.Dataset("mnist", mnist.train_x[:512], mnist.train_y[:512], mnist.test_x[:256],
                        mnist.test_y[:256], num_classes=10)
  classifier.get_classifier(subset, cache_dir=str(tmp_path), log=lambda _: None)
  assert len(calls) == 1


@pytest.mark.slow
@pytest.mark.parametrize("collapsed", [False, True])
def test_mode_collapse_flag_of_constructed_image_generators(mnist, monkeypatch, collapsed):
  """An oracle G that returns real test images of the requested class is not collapsed; one
  that returns the same image for every request is."""
  config = load_config("experiments/cgan.py")
  exp = experiment.build(config, num_devices=1, dataset=mnist)
  by_class = [mnist.test_x[mnist.test_y == k] for k in range(10)]

  def oracle(exp, state, num, seed):
    labels = np.arange(num) % 10
    images = np.stack([by_class[0][0] if collapsed else by_class[k][i // 10]
                       for i, k in enumerate(labels)])
    return {"images": images, "labels": labels}

  monkeypatch.setattr(sampling, "draw_samples", oracle)
  result = evaluator.evaluate(exp, None, num=1000)
  assert result["mode_collapse"] is collapsed
  if collapsed:
    assert result["class_kl_from_uniform"] == pytest.approx(np.log(10))
  else:
    assert result["class_kl_from_uniform"] < 0.01 and result["conditional_accuracy"] > 0.98
