"""Tests of the feature classifier on sklearn's digits: accuracy, caching and cache keys.

Training is a short run (a few hundred steps on ~1.4k images); the full MNIST classifier is
trained by hand (see the module docstring of gan_jax.evaluation.classifier).
"""

import dataclasses
import json
import os

import ml_collections
import numpy as np
import pytest

from gan_jax import files
from gan_jax.data import sources
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier
from tests.helpers import cached_classifier

STEPS = 100  # ~0.94 test accuracy on digits


@pytest.fixture(scope="module")
def digits():
  return sources.load_dataset(ml_collections.ConfigDict({"name": "digits", "path": ""}))


@pytest.fixture(scope="module")
def cache_and_clf(digits, tmp_path_factory):
  cache = str(tmp_path_factory.mktemp("cache"))
  return cache, cached_classifier(digits, cache, STEPS)


def _counting_train(monkeypatch):
  calls = []
  real = classifier.train_classifier

  def counted(*args, **kwargs):
    calls.append(1)
    return real(*args, **kwargs)

  monkeypatch.setattr(classifier, "train_classifier", counted)
  return calls


@pytest.mark.slow
def test_accuracy_and_outputs(digits, cache_and_clf):
  _, clf = cache_and_clf
  assert clf.test_accuracy > 0.9
  x = digits.test_x[:37]
  feats, probs = clf.outputs(x)
  assert feats.shape == (37, 128) and feats.dtype == np.float32
  assert probs.shape == (37, 10)
  np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
  np.testing.assert_array_equal(clf.predict(x), probs.argmax(1))
  # Batching and padding do not change the result: a batch of 1 equals row 0 of a batch of 37.
  np.testing.assert_allclose(clf.features(x[:1])[0], feats[0], rtol=1e-5, atol=1e-5)
  # Greyscale (N, H, W) input is accepted.
  np.testing.assert_allclose(clf.features(x[..., 0]), feats, rtol=1e-6)


@pytest.mark.slow
def test_cache_is_written_and_reloaded_without_training(digits, cache_and_clf, monkeypatch):
  cache, clf = cache_and_clf
  (entry,) = os.listdir(os.path.join(cache, "classifier"))
  with open(os.path.join(cache, "classifier", entry, "meta.json")) as f:
    meta = json.load(f)
  assert entry.startswith("digits-") and meta["test_accuracy"] == clf.test_accuracy
  assert meta["train_steps"] == STEPS
  calls = _counting_train(monkeypatch)
  again = classifier.get_classifier(digits, cache, train_steps=STEPS, log=lambda s: None)
  assert not calls
  assert again.test_accuracy == clf.test_accuracy
  x = digits.test_x[:64]
  np.testing.assert_array_equal(again.features(x), clf.features(x))


@pytest.mark.slow
def test_cache_dir_from_environment(digits, cache_and_clf, monkeypatch):
  cache, _ = cache_and_clf
  monkeypatch.setenv(files.CACHE_ENV, cache)
  calls = _counting_train(monkeypatch)
  classifier.get_classifier(digits, train_steps=STEPS, log=lambda s: None)
  assert not calls


@pytest.mark.slow
def test_other_data_under_the_same_name_is_not_reused(digits, cache_and_clf, monkeypatch):
  cache, _ = cache_and_clf
  other = dataclasses.replace(digits, train_x=-digits.train_x)
  assert (classifier.dataset_fingerprint(other, STEPS)
          != classifier.dataset_fingerprint(digits, STEPS))
  calls = []
  # Stub the training to keep the test fast: only whether it is called matters here.
  monkeypatch.setattr(classifier, "train_classifier",
                      lambda ds, **kw: (calls.append(1), _stub_params(ds))[1])
  classifier.get_classifier(other, cache, train_steps=STEPS, log=lambda s: None)
  assert calls
  assert len(os.listdir(os.path.join(cache, "classifier"))) == 2


def _stub_params(ds):
  import jax
  import jax.numpy as jnp

  model = classifier.ClassifierCNN(ds.num_classes)
  return jax.device_get(model.init(jax.random.key(1), jnp.zeros((1, *ds.example_shape)))["params"])


def test_unreadable_cache_entry_is_retrained(digits, tmp_path, monkeypatch):
  fingerprint = classifier.dataset_fingerprint(digits, STEPS)
  entry = classifier._entry_dir(str(tmp_path), "digits", fingerprint)
  os.makedirs(entry)
  with open(os.path.join(entry, "meta.json"), "w") as f:
    json.dump({"fingerprint": fingerprint, "params_dir": "missing", "test_accuracy": 1.0}, f)
  calls = []
  monkeypatch.setattr(classifier, "train_classifier",
                      lambda ds, **kw: (calls.append(1), _stub_params(ds))[1])
  logs = []
  classifier.get_classifier(digits, str(tmp_path), train_steps=STEPS, log=logs.append)
  assert calls and any("unreadable" in line for line in logs)


@pytest.mark.slow
def test_real_vs_real_floor(digits, cache_and_clf):
  _, clf = cache_and_clf
  floor = classifier.real_vs_real_floor(digits, clf, 10_000)
  assert floor["num"] == len(digits.test_x)
  assert 0 <= floor["fcd"] < 50 and floor["precision"] > 0.5 and floor["recall"] > 0.5
  # Any feature function is accepted in place of the classifier.
  flat = classifier.real_vs_real_floor(digits, lambda x: x.reshape(len(x), -1)[:, ::8], 100)
  assert flat["num"] == 100 and flat["fcd"] > 0


def test_unlabelled_data_is_rejected():
  mog = sources.load_dataset(ml_collections.ConfigDict({"name": "mog_ring", "path": ""}))
  with pytest.raises(ConfigError):
    classifier.get_classifier(mog, "/nonexistent")


def test_colour_32x32_images_work(digits):
  rng = np.random.default_rng(0)
  colour = sources.Dataset("rgb", rng.uniform(-1, 1, (64, 32, 32, 3)).astype(np.float32),
                        rng.integers(0, 4, 64).astype(np.int32),
                        rng.uniform(-1, 1, (16, 32, 32, 3)).astype(np.float32),
                        rng.integers(0, 4, 16).astype(np.int32), num_classes=4)
  clf = classifier.FeatureClassifier(_stub_params(colour), 4, colour.example_shape)
  feats, probs = clf.outputs(colour.test_x)
  assert feats.shape == (16, 128) and probs.shape == (16, 4)
  with pytest.raises(ValueError):
    clf.features(digits.test_x[:2])  # 28x28x1 into a 32x32x3 classifier
