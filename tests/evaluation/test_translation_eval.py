"""Translation metrics (gan_jax.evaluation.translation): PSNR and SSIM against known values and an
independent SSIM, the bicubic baseline against PIL, and the evaluations' oracle (the true targets
score the classifier's accuracy and exactly the fcd floor) and identity (the baseline) cases."""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from gan_jax.configs import base_config
from gan_jax.data import translation as data_lib
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import translation as ev


def _images(seed: int, n: int = 4, size: int = 28, channels: int = 1) -> np.ndarray:
  """Smooth random images in [-1, 1] (SSIM of white noise says little)."""
  x = np.random.default_rng(seed).standard_normal((n, size, size, channels))
  x = ndimage.gaussian_filter(x, (0, 2, 2, 0))
  return (x / np.abs(x).max()).astype(np.float32)


# ---- PSNR, SSIM, L1 ---------------------------------------------------------------------------


def test_psnr_of_known_errors():
  x = _images(0) * 0.5
  # +0.2 in [-1, 1] is +0.1 in [0, 1]: MSE 0.01, 20 dB.
  np.testing.assert_allclose(ev.psnr(x + 0.2, x), 20.0, atol=1e-9)
  noise = np.random.default_rng(1).standard_normal((8, 64, 64, 1)) * 0.1  # σ 0.05 in [0, 1]
  np.testing.assert_allclose(ev.psnr(noise, np.zeros_like(noise)).mean(),
                             -20 * np.log10(0.05), atol=0.1)
  assert (ev.psnr(x, x) == ev.MAX_PSNR).all()
  np.testing.assert_allclose(ev.l1(x + 0.2, x), 0.2, atol=1e-6)


def test_ssim_of_identical_and_constant_images():
  x = _images(2)
  np.testing.assert_allclose(ev.ssim(x, x), 1.0, atol=1e-12)
  # Constant images u = a, v = b in [0, 1]: σ terms vanish, SSIM = (2ab + C1)/(a² + b² + C1).
  a, b = 0.25, 0.75
  c1 = ev.SSIM_K1 ** 2
  u = np.full((1, 16, 16, 1), 2 * a - 1)
  v = np.full((1, 16, 16, 1), 2 * b - 1)
  np.testing.assert_allclose(ev.ssim(u, v), (2 * a * b + c1) / (a * a + b * b + c1), rtol=1e-9)
  np.testing.assert_allclose(ev.ssim(-x, x).mean() < 0, True)  # inverted structure


def _ssim_reference(x, y, sigma=1.5, k1=0.01, k2=0.03):
  """skimage's construction, written independently: scipy's gaussian_filter (truncate 3.5: 11
  taps at σ 1.5) over the whole image, then the (11 - 1)/2 border cropped."""
  out = []
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  for xi, yi in zip((x + 1) / 2, (y + 1) / 2, strict=True):
    per_channel = []
    for c in range(xi.shape[-1]):
      u, v = xi[..., c], yi[..., c]
      f = lambda z: ndimage.gaussian_filter(z, sigma, truncate=3.5)
      mu_u, mu_v = f(u), f(v)
      vu, vv, cuv = f(u * u) - mu_u ** 2, f(v * v) - mu_v ** 2, f(u * v) - mu_u * mu_v
      s = ((2 * mu_u * mu_v + k1 ** 2) * (2 * cuv + k2 ** 2)) / (
          (mu_u ** 2 + mu_v ** 2 + k1 ** 2) * (vu + vv + k2 ** 2))
      per_channel.append(s[5:-5, 5:-5].mean())
    out.append(np.mean(per_channel))
  return np.array(out)


def test_ssim_matches_an_independent_implementation_on_noisy_and_shifted_images():
  x = _images(3, channels=3)
  rng = np.random.default_rng(4)
  noisy = np.clip(x + 0.2 * rng.standard_normal(x.shape), -1, 1)
  shifted = np.roll(x, 2, axis=2)
  for y in (noisy, shifted, _images(5, channels=3)):
    np.testing.assert_allclose(ev.ssim(y, x), _ssim_reference(y, x), rtol=1e-9, atol=1e-12)
  s_noisy, s_shift = ev.ssim(noisy, x).mean(), ev.ssim(shifted, x).mean()
  assert 0.0 < s_noisy < 0.95 and 0.0 < s_shift < 0.95
  more = np.clip(x + 0.5 * rng.standard_normal(x.shape), -1, 1)
  assert ev.ssim(more, x).mean() < s_noisy  # more noise, less similar


def test_ssim_and_psnr_match_skimage_where_installed():
  metrics = pytest.importorskip("skimage.metrics")  # a cross-check outside CI only
  x, y = _images(6).astype(np.float64), _images(7).astype(np.float64)  # skimage keeps float32
  expected = [metrics.structural_similarity(
      (a[..., 0] + 1) / 2, (b[..., 0] + 1) / 2, gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False, data_range=1.0) for a, b in zip(x, y, strict=True)]
  np.testing.assert_allclose(ev.ssim(x, y), expected, rtol=1e-9)
  expected = [metrics.peak_signal_noise_ratio((b + 1) / 2, (a + 1) / 2, data_range=1.0)
              for a, b in zip(x, y, strict=True)]
  np.testing.assert_allclose(ev.psnr(x, y), expected, rtol=1e-12)


def test_ssim_window_shrinks_to_fit_small_images():
  assert len(ev.gaussian_window()) == 11
  np.testing.assert_allclose(ev.gaussian_window().sum(), 1.0)
  x = _images(8, size=7)
  np.testing.assert_allclose(ev.ssim(x, x), 1.0, atol=1e-12)  # a 7x7 window, one position
  assert np.isfinite(ev.ssim(x, _images(9, size=7))).all()


def test_bicubic_baseline_matches_pils_bicubic_upsampling():
  x = np.random.default_rng(10).uniform(-0.5, 0.5, (3, 7, 7, 1)).astype(np.float32)
  ours = ev.resize_to(x, (28, 28, 1))
  pil = np.stack([np.asarray(Image.fromarray(im[..., 0], mode="F").resize(
      (28, 28), Image.BICUBIC)) for im in x])[..., None]
  np.testing.assert_allclose(ours, np.clip(pil, -1, 1), atol=1e-5)
  np.testing.assert_allclose(ev.resize_to(np.full((1, 7, 7, 1), 0.3), (28, 28, 3)), 0.3,
                             atol=1e-6)  # constants stay constant, channels repeated


# ---- The evaluations on MNIST ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tasks():
  c = base_config().data
  return {name: data_lib.load(ml_collections.ConfigDict({**c.to_dict(), "name": name}))
          for name in data_lib.NAMES}


@pytest.fixture(scope="module")
def classifier(tasks):
  return ev.target_classifier(tasks["mnist_sr"], log=lambda s: None)


def _oracle(targets: np.ndarray):
  """Returns ``targets`` in order, chunk after chunk: the true outputs of one pass."""
  position = [0]

  def translate(x):
    start = position[0]
    position[0] += len(x)
    return targets[start:start + len(x)]

  return translate


@pytest.mark.slow
def test_the_shipped_classifier_serves_every_task_without_training(tasks, monkeypatch):
  monkeypatch.setattr(classifier_lib, "train_classifier", lambda *a, **k: 1 / 0)
  for data in tasks.values():
    assert ev.target_classifier(data, log=lambda s: None).test_accuracy > 0.99


@pytest.mark.slow
def test_oracle_translation_scores_the_classifier_accuracy_and_the_fcd_floor(tasks, classifier):
  data, num = tasks["mnist_sr"], 600
  train_idx, test_idx = ev.evaluation_indices(data, num)
  out = ev.evaluate_paired(_oracle(data.test_b[test_idx]), data, num=num, classifier=classifier,
                           batch_size=256)
  assert out["num"] == num and out["baseline"] == "bicubic"
  assert (out["l1"], out["psnr"], out["ssim"]) == (0.0, ev.MAX_PSNR, 1.0)
  assert out["accuracy"] == classifier.accuracy(data.test_b[test_idx], data.labels["test_b"][
      test_idx])
  floor = classifier_lib.real_vs_real_floor(data_lib.domain_dataset(data), classifier, num)
  assert out["fcd"] == out["fcd_floor"] == pytest.approx(floor["fcd"], rel=1e-12)
  # Bicubic up-sampling: blurry digits, far from the target distribution.
  assert out["baseline_psnr"] < 20 and out["baseline_ssim"] < 0.8
  assert out["baseline_accuracy"] < out["accuracy"] and out["baseline_fcd"] > 5 * out["fcd"]
  assert list(out).index("baseline_psnr") == list(out).index("psnr") + 1  # beside each other


@pytest.mark.slow
def test_oracle_on_the_full_test_split_scores_the_classifier_test_accuracy(tasks, classifier):
  data = tasks["mnist_edges"]
  out = ev.evaluate_paired(_oracle(data.test_b), data, num=None, classifier=classifier)
  assert out["num"] == 10_000
  assert out["accuracy"] == pytest.approx(classifier.test_accuracy, abs=1e-9)
  assert out["fcd"] == pytest.approx(out["fcd_floor"], rel=1e-12)


@pytest.mark.slow
def test_identity_translation_scores_the_input_baseline(tasks, classifier):
  data = tasks["mnist_edges"]
  out = ev.evaluate_paired(lambda x: x, data, num=300, classifier=classifier)
  for key in ("l1", "psnr", "ssim", "accuracy", "fcd"):
    assert out[key] == out[f"baseline_{key}"], key
  assert out["accuracy"] < 0.9 and out["fcd"] > 3 * out["fcd_floor"]  # outlines are no digits


@pytest.mark.slow
def test_unpaired_identity_is_the_untranslated_baseline_and_cycles_are_measured(tasks,
                                                                              classifier):
  data = tasks["digits2mnist"]
  identity = lambda x: x
  out = ev.evaluate_unpaired(identity, identity, data, num=200, classifier=classifier)
  assert (out["num_a"], out["num_b"]) == (200, 200)
  assert (out["cycle_a"], out["cycle_b"]) == (0.0, 0.0)
  assert out["label_preservation"] == out["baseline_label_preservation"]
  assert out["fcd"] == out["baseline_fcd"] > out["fcd_floor"]
  x_a = ev.sample_rows(data.test_a, 200)
  expected = classifier.accuracy(x_a, ev.sample_rows(data.labels["test_a"], 200))
  assert out["label_preservation"] == expected
  brighten = lambda x: np.clip(x + 0.5, -1, 1)
  out = ev.evaluate_unpaired(brighten, identity, data, num=50, classifier=None)
  x_a, x_b = ev.sample_rows(data.test_a, 50), ev.sample_rows(data.test_b, 50)
  assert out["cycle_a"] == pytest.approx(np.abs(brighten(x_a) - x_a).mean(), rel=1e-6)
  assert out["cycle_b"] == pytest.approx(np.abs(brighten(x_b) - x_b).mean(), rel=1e-6)
  assert "fcd" not in out and "label_preservation" not in out


@pytest.mark.slow
def test_paired_without_a_classifier_gives_the_pixel_metrics(tasks):
  data = tasks["mnist_sr"]
  out = ev.evaluate_paired(lambda x: ev.resize_to(x, data.shape_b), data, num=100,
                           classifier=None)
  assert set(out) == {"num", "baseline", "l1", "baseline_l1", "psnr", "baseline_psnr", "ssim",
                      "baseline_ssim"}
  assert out["psnr"] == out["baseline_psnr"]  # bicubic as the translator is the baseline


@pytest.mark.slow
def test_bad_translations_and_data_raise(tasks):
  with pytest.raises(ValueError, match="translate returned shape"):
    ev.evaluate_paired(lambda x: x, tasks["mnist_sr"], num=10, classifier=None)  # stays 7x7
  with pytest.raises(ValueError, match="needs paired data"):
    ev.evaluate_paired(lambda x: x, tasks["digits2mnist"], num=10, classifier=None)
  bad = dataclasses.replace(tasks["mnist_edges"], baseline="nearest")
  with pytest.raises(ValueError, match="baseline='nearest'"):
    ev.baseline_outputs(bad, bad.test_a[:2])
