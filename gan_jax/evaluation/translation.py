"""Metrics of image-to-image translation, each beside its untrained baseline.

Pure host functions of ``translate`` callables (numpy (N, H, W, C) in [-1, 1] in, the same
convention out; called on chunks of at most ``batch_size`` rows, the last one shorter) and a
``gan_jax.data.translation.TranslationData``:

- ``evaluate_paired`` (pix2pix's tasks), on n = min(num, test size) test pairs: L1 (mean
  |out - target| in [-1, 1] units), PSNR and SSIM against the target (images mapped to [0, 1] by
  (x + 1)/2, mean over images), the feature classifier's accuracy on the outputs (the test
  labels), and ``fcd`` of the outputs against n real *training* targets, beside ``fcd_floor``:
  the fcd of n real training targets against n real test targets
  (``classifier.real_vs_real_floor``, as ``gan_jax.evaluate`` reports it for GAN runs). The n
  test pairs are the floor's test sample and the reference its training sample
  (``classifier.real_vs_real_indices``), so a translator that returns the true targets scores
  exactly the floor. (Against the outputs' own targets it would score 0, below any real sample;
  MNIST's first test digits are not a fair sample either: the first 1000 score 2x the floor.)
- ``evaluate_unpaired`` (CycleGAN's), on min(num, test size) test images of each domain (all, or
  a subset drawn by ``sample_rows``): label preservation (the classifier's accuracy on
  a2b(test A), scored with A's labels), ``fcd`` of the translations against as many real B test
  images (the floor's test sample) beside ``fcd_floor``, and the cycle reconstruction errors
  ``cycle_a`` = mean |b2a(a2b(a)) - a| and ``cycle_b`` = mean |a2b(b2a(b)) - b| ([-1, 1] units).

Baselines (``baseline_*`` keys): ``TranslationData.baseline``: 'bicubic' is up-sampling of the
input to B's size with ``jax.image.resize(method='bicubic')`` (Keys' cubic, a = -0.5, half-pixel
centres; PIL's BICUBIC up-sampling to 1e-5, tested), clipped to [-1, 1]; 'input' is the input
itself (resized the same way only where its size differs from B's). The unpaired task's baseline
is the untranslated input.

PSNR = 10 log10(1 / MSE) per image on [0, 1] (capped at ``MAX_PSNR`` for identical images).
SSIM (Wang et al. 2004) per image and channel with a Gaussian window of std 1.5 and 11x11 taps
(the paper's; ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)``), over the valid positions only (18x18 of a 28x28
image), K1 = 0.01, K2 = 0.03; images smaller than 11 px use the largest odd window that fits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gan_jax.data import translation as data_lib
from gan_jax.evaluation import metrics

Translate = Callable[[np.ndarray], np.ndarray]

MAX_PSNR = 100.0  # dB: PSNR of an image equal to its target (MSE floored at 1e-10).
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
TRANSLATE_BATCH = 500  # Rows per translate call.


# ---- Pixel metrics ----------------------------------------------------------------------------


def _unit(x) -> np.ndarray:
  """[-1, 1] -> [0, 1], float64."""
  return (np.asarray(x, np.float64) + 1.0) / 2.0


def _check_pair(x, y) -> None:
  if np.shape(x) != np.shape(y) or np.ndim(x) != 4:
    raise ValueError(f"images must be two (N, H, W, C) arrays of one shape, got {np.shape(x)} "
                     f"and {np.shape(y)}")


def l1(x, y) -> np.ndarray:
  """Per-image mean |x - y| ([-1, 1] units), (N,)."""
  _check_pair(x, y)
  return np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).mean((1, 2, 3))


def psnr(x, y) -> np.ndarray:
  """Per-image 10 log10(1 / MSE) in dB of images mapped to [0, 1], (N,), at most MAX_PSNR."""
  _check_pair(x, y)
  mse = ((_unit(x) - _unit(y)) ** 2).mean((1, 2, 3))
  return np.minimum(10.0 * np.log10(1.0 / np.maximum(mse, 1e-10)), MAX_PSNR)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
  """The normalised 1-D Gaussian g_k ∝ exp(-(k - (size-1)/2)^2 / (2 sigma^2)), k < size."""
  k = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
  g = np.exp(-k ** 2 / (2.0 * sigma ** 2))
  return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
  """Separable valid correlation of (N, H, W, C) with g ⊗ g: (N, H-k+1, W-k+1, C)."""
  k = len(g)
  x = np.lib.stride_tricks.sliding_window_view(x, k, axis=1) @ g  # (N, H', W, C)
  return np.lib.stride_tricks.sliding_window_view(x, k, axis=2) @ g


def ssim(x, y, *, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
  """Per-image mean SSIM of images in [-1, 1] (mapped to [0, 1], data range 1), (N,).

  SSIM = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), the moments taken
  under a Gaussian window (``window`` taps, std ``sigma``; shrunk to the largest odd size that
  fits smaller images), C1 = K1², C2 = K2²; averaged over valid positions and channels.
  """
  _check_pair(x, y)
  size = min(window, *np.shape(x)[1:3])
  size -= 1 - size % 2
  g = gaussian_window(size, sigma)
  x, y = _unit(x), _unit(y)
  mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
  var_x = _filter_valid(x * x, g) - mu_x ** 2
  var_y = _filter_valid(y * y, g) - mu_y ** 2
  cov = _filter_valid(x * y, g) - mu_x * mu_y
  c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
  ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
      (mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
  return ssim_map.mean((1, 2, 3))


# ---- Baselines --------------------------------------------------------------------------------


def resize_to(x, shape: tuple[int, ...]) -> np.ndarray:
  """Images (N, H, W, C) in [-1, 1] as (N, *shape): bicubic ``jax.image.resize`` where the size
  differs (clipped to [-1, 1]), channels repeated (1 -> C) or averaged (C -> 1)."""
  import jax

  x = np.asarray(x, np.float32)
  h, w, c = shape
  if x.shape[1:3] != (h, w):
    x = np.clip(np.asarray(jax.image.resize(x, (len(x), h, w, x.shape[3]), "bicubic")), -1, 1)
  if x.shape[3] != c:
    if x.shape[3] == 1:
      x = np.repeat(x, c, axis=3)
    elif c == 1:
      x = x.mean(3, keepdims=True)
    else:
      raise ValueError(f"cannot map {x.shape[3]} channels to {c}")
  return x.astype(np.float32)


def baseline_outputs(data: data_lib.TranslationData, x_a) -> np.ndarray:
  """The untrained translation of A images into B's shape (``data.baseline``)."""
  if data.baseline not in data_lib.BASELINES:
    raise ValueError(f"baseline={data.baseline!r}; valid: {', '.join(data_lib.BASELINES)}")
  return resize_to(x_a, data.shape_b)  # 'input' and 'bicubic' differ only where sizes differ


# ---- Classifier metrics -----------------------------------------------------------------------


def target_classifier(data: data_lib.TranslationData, cache_dir: str | None = None, *,
                      log=print):
  """The feature classifier of domain B (the shipped one for MNIST), or None without labels."""
  from gan_jax.evaluation import classifier as classifier_lib

  target = data_lib.domain_dataset(data, "b")
  if not target.has_labels:
    return None
  return classifier_lib.get_classifier(target, cache_dir=cache_dir, log=log)


def sample_rows(x: np.ndarray, num: int | None, seed: int = 0) -> np.ndarray:
  """``num`` rows of ``x`` drawn without replacement by ``default_rng(seed)``, in index order;
  all of ``x`` for None, 0 or num >= len(x)."""
  if not num or num >= len(x):
    return x
  return x[np.sort(np.random.default_rng(seed).choice(len(x), num, replace=False))]


def _fcd_and_floor(out_features, reference: np.ndarray, target, classifier) -> dict:
  """fcd(reference, outputs) and the real-vs-real floor at the same sample count."""
  from gan_jax.evaluation import evaluator

  ref_features = classifier.features(reference)
  return {"fcd": metrics.frechet_distance(ref_features, out_features),
          "fcd_floor": float(evaluator._floor(target, classifier, len(reference)))}


def _apply(translate: Translate, x: np.ndarray, shape: tuple[int, ...],
           batch_size: int = TRANSLATE_BATCH) -> np.ndarray:
  """translate(x) in chunks of ``batch_size`` rows, checked to be (len(x), *shape)."""
  outs = [np.asarray(translate(x[i:i + batch_size]), np.float32)
          for i in range(0, len(x), batch_size)]
  out = np.concatenate(outs) if outs else np.zeros((0, *shape), np.float32)
  if out.shape != (len(x), *shape):
    raise ValueError(f"translate returned shape {out.shape}; expected {(len(x), *shape)}")
  return out


def evaluation_indices(data: data_lib.TranslationData, num: int | None):
  """(train B indices, test indices) of the fcd floor at n = min(num, test size) (all for None
  or 0): the test pairs ``evaluate_paired`` scores and its fcd's real reference."""
  from gan_jax.evaluation import classifier as classifier_lib

  n = len(data.test_b) if not num else min(num, len(data.test_b))
  return classifier_lib.real_vs_real_indices(data.num_train_b, len(data.test_b), n)


# ---- The evaluations --------------------------------------------------------------------------


def evaluate_paired(translate: Translate, data: data_lib.TranslationData, *, num: int | None,
                    classifier, batch_size: int = TRANSLATE_BATCH) -> dict:
  """L1, PSNR, SSIM, accuracy and fcd of translate(test A) against test B on n = min(num, test
  size) pairs (all for None or 0), each followed by its ``baseline_`` value; ``classifier``
  None leaves out accuracy and fcd, data without test labels accuracy."""
  if not data.paired:
    raise ValueError(f"evaluate_paired needs paired data; {data.name!r} is unpaired")
  train_idx, test_idx = evaluation_indices(data, num)
  x_a, target = data.test_a[test_idx], data.test_b[test_idx]
  outputs = {"": _apply(translate, x_a, data.shape_b, batch_size),
             "baseline_": baseline_outputs(data, x_a)}
  out: dict = {"num": len(x_a), "baseline": data.baseline}
  for name, fn in (("l1", l1), ("psnr", psnr), ("ssim", ssim)):
    for prefix, y in outputs.items():
      out[prefix + name] = float(fn(y, target).mean())
  if classifier is None:
    return out
  features = {prefix: classifier.outputs(y) for prefix, y in outputs.items()}
  labels = data.labels.get("test_b")
  if labels is not None:
    for prefix, (_, probs) in features.items():
      out[prefix + "accuracy"] = float(np.mean(probs.argmax(-1) == labels[test_idx]))
  target_ds = data_lib.domain_dataset(data, "b")
  for prefix, (feats, _) in features.items():
    scores = _fcd_and_floor(feats, data.train_b[train_idx], target_ds, classifier)
    out[prefix + "fcd"] = scores["fcd"]
  out["fcd_floor"] = scores["fcd_floor"]
  out["classifier_test_accuracy"] = float(classifier.test_accuracy)
  return out


def evaluate_unpaired(translate_a2b: Translate, translate_b2a: Translate | None,
                      data: data_lib.TranslationData, *, num: int | None, classifier,
                      batch_size: int = TRANSLATE_BATCH) -> dict:
  """Label preservation and fcd of a2b(test A) beside the untranslated input's, and the cycle
  errors, on min(num, test size) test images of each domain (``sample_rows``; all for None or
  0). ``translate_b2a`` None leaves out the cycle errors, ``classifier`` None the rest."""
  x_a, x_b = sample_rows(data.test_a, num), sample_rows(data.test_b, num)
  a2b = _apply(translate_a2b, x_a, data.shape_b, batch_size)
  out: dict = {"num_a": len(x_a), "num_b": len(x_b)}
  if translate_b2a is not None:
    out["cycle_a"] = float(l1(_apply(translate_b2a, a2b, data.shape_a, batch_size), x_a).mean())
    b2a = _apply(translate_b2a, x_b, data.shape_a, batch_size)
    out["cycle_b"] = float(l1(_apply(translate_a2b, b2a, data.shape_b, batch_size), x_b).mean())
  if classifier is None:
    return out
  outputs = {"": a2b, "baseline_": resize_to(x_a, data.shape_b)}
  features = {prefix: classifier.outputs(y) for prefix, y in outputs.items()}
  labels = data.labels.get("test_a")
  if labels is not None:
    labels = sample_rows(labels, num)
    for prefix, (_, probs) in features.items():
      out[prefix + "label_preservation"] = float(np.mean(probs.argmax(-1) == labels))
  _, test_idx = evaluation_indices(data, len(x_a))
  target_ds = data_lib.domain_dataset(data, "b")
  for prefix, (feats, _) in features.items():
    scores = _fcd_and_floor(feats, data.test_b[test_idx], target_ds, classifier)
    out[prefix + "fcd"] = scores["fcd"]
  out["fcd_floor"] = scores["fcd_floor"]
  out["classifier_test_accuracy"] = float(classifier.test_accuracy)
  return out
