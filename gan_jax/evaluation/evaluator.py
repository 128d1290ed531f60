"""Evaluates a run's generator: sample quality, diversity and (for conditional runs) control.

  python -m gan_jax.evaluate --workdir=runs/cgan [--num=10000]

Image datasets are measured in the feature space of a small classifier trained in-project on the
dataset (``evaluation.classifier``), so the Fréchet distance there is a Fréchet *Classifier*
Distance, reported as ``fcd`` next to its real-vs-real floor (train split vs test split, same
sample count). ``evaluate(..., feature_fn=f)`` takes any ``f(images) -> (N, F)`` instead, and
``evaluate(..., features='inception')`` gives the Inception metrics papers quote
(``evaluation.inception_metrics``).
2-D mixtures are measured by their modes.
"""

from __future__ import annotations

import numpy as np

from gan_jax import rng
from gan_jax.errors import check_choice
from gan_jax.evaluation import diagnostics, metrics, sampling


def _real_subset(x: np.ndarray, y, num: int, seed: int):
  idx = np.random.default_rng(seed).permutation(len(x))[:num]
  return x[idx], (None if y is None else y[idx])


def evaluate_images(exp, state, *, num: int, seed: int = 0, classifier=None,
                    feature_fn=None, cache_dir=None, cas_steps: int | None = None,
                    fake: dict | None = None) -> dict:
  """fcd (+ floor), KID, inception-style score, precision/recall, density/coverage, diversity.

  The samples are ``sampling.draw_samples`` of the eval stream of ``seed``, or ``fake`` ({'images'
  (num, ...), 'labels'}) when the game draws them itself (StyleGAN2's truncation).

  ``mode_collapse``: the KL from uniform of the classifier's class histogram of the samples
  (labels i % K for conditional runs) above ``diagnostics.MODE_COLLAPSE_KL``.
  Conditional runs add conditional accuracy (the classifier agrees with the requested label) and
  intra-class fcd (mean over classes of the fcd between fake and real examples of that class).
  Labelled conditional runs add the Classification Accuracy Score ``cas`` of the samples and
  ``cas_real``, that of as many real images (``evaluation.cas``; ``cas_steps`` its training
  steps, 0 turns it off).
  """
  from gan_jax.evaluation import classifier as classifier_lib

  ds = exp.dataset
  if classifier is None and ds.has_labels:
    classifier = classifier_lib.get_classifier(ds, cache_dir=cache_dir)
  if feature_fn is None and classifier is None:
    raise ValueError("an unlabelled image dataset needs a feature_fn for evaluation")
  if fake is None:
    fake = sampling.draw_samples(exp, state, num, rng.streams(seed).eval)
  labels = fake.get("labels")
  fake_x = fake["images"]
  real_x, real_y = _real_subset(ds.train_x, ds.train_y, num, seed)
  probs = None
  if feature_fn is None:
    f_fake, probs = classifier.outputs(fake_x)  # features and class probabilities in one pass
    f_real = classifier.features(real_x)
  else:
    f_fake, f_real = feature_fn(fake_x), feature_fn(real_x)
  out = {"num": int(num), "fcd": metrics.frechet_distance(f_real, f_fake)}
  kid_mean, kid_std = metrics.kernel_inception_distance(f_real, f_fake)
  out.update(kid=kid_mean, kid_std=kid_std)
  out.update(metrics.precision_recall(f_real, f_fake))
  out.update(metrics.density_coverage(f_real, f_fake))
  out["diversity_fake"] = metrics.mean_pairwise_distance(f_fake)
  out["diversity_real"] = metrics.mean_pairwise_distance(f_real)
  if classifier is not None:
    probs = classifier.probs(fake_x) if probs is None else probs
    out["classifier_score"], _ = metrics.inception_score(probs)
    pred = probs.argmax(-1)
    hist = metrics.class_histogram(pred, probs.shape[-1])
    out["class_histogram"] = [float(h) for h in hist]
    collapse = diagnostics.mode_collapse(hist)
    out["class_kl_from_uniform"], out["mode_collapse"] = (
        collapse["kl_from_uniform"], collapse["mode_collapse"])
    out["classifier_test_accuracy"] = float(classifier.test_accuracy)
    out["fcd_floor"] = _floor(ds, classifier, num)
    if labels is not None:
      out["conditional_accuracy"] = metrics.conditional_accuracy(pred, labels)
      per_class = []
      for k in range(exp.num_classes):
        fk, rk = f_fake[labels == k], f_real[real_y == k]
        if len(fk) > 2 and len(rk) > 2:
          per_class.append(metrics.frechet_distance(rk, fk))
      out["intra_class_fcd"] = float(np.mean(per_class)) if per_class else float("nan")
  if labels is not None and ds.has_labels:
    out.update(_cas(fake_x, labels, ds, num, cas_steps))
  return out


def _cas(fake_x, labels, dataset, num: int, cas_steps: int | None) -> dict:
  """{'cas', 'cas_real'} (``evaluation.cas``); the real baseline once per process."""
  from gan_jax.evaluation import cas

  steps = cas.CAS_TRAIN_STEPS if cas_steps is None else cas_steps
  if not steps:
    return {}
  key = ("cas", dataset.name, len(dataset.train_x), num, steps)
  if key not in _FLOORS:
    _FLOORS[key] = cas.real_baseline(dataset, num, train_steps=steps)
  return {"cas": cas.classification_accuracy_score(fake_x, np.asarray(labels), dataset,
                                                   train_steps=steps),
          "cas_real": _FLOORS[key]}


_FLOORS: dict = {}


def _floor(dataset, classifier, num: int) -> float:
  """The real-vs-real fcd (train vs test split, ``num`` each), computed once per process."""
  from gan_jax.evaluation import classifier as classifier_lib

  key = (dataset.name, len(dataset.train_x), num, id(classifier))
  if key not in _FLOORS:
    _FLOORS[key] = classifier_lib.real_vs_real_floor(dataset, classifier, num)["fcd"]
  return _FLOORS[key]


def evaluate_points(exp, state, *, num: int, seed: int = 0) -> dict:
  """Modes captured, high-quality fraction, mode KL and the mode-collapse flag (mode KL above
  ``diagnostics.MODE_COLLAPSE_KL``) for the 2-D mixtures."""
  ds = exp.dataset
  pts = sampling.draw_samples(exp, state, num, rng.streams(seed).eval)["samples"]
  out = {"num": int(num)}
  out.update(metrics.mode_metrics(pts, ds.mode_centers, ds.mode_std))
  out["mode_collapse"] = bool(out["mode_kl"] > diagnostics.MODE_COLLAPSE_KL)
  out["diversity_fake"] = metrics.mean_pairwise_distance(pts)
  out["diversity_real"] = metrics.mean_pairwise_distance(_real_subset(ds.train_x, None, num,
                                                                      seed)[0])
  return out


FEATURES = ("classifier", "inception")


def validate_config(config) -> None:
  """ConfigError for a bad ``ema_bn_stats`` or ``train.eval_features``/``inception_*`` choice."""
  from gan_jax.evaluation import inception_metrics, inception_net

  check_choice("ema_bn_stats", config.ema_bn_stats, sampling.EMA_BN_STATS)
  check_choice("train.eval_features", config.train.get("eval_features", "classifier"), FEATURES)
  for field, valid in (("inception_protocol", inception_net.PROTOCOLS),
                       ("inception_quantize", inception_net.QUANTIZE_MODES),
                       ("inception_reference_split", inception_metrics.REFERENCE_SPLITS)):
    check_choice(f"train.{field}", config.train.get(field, valid[0]), valid)


def evaluate(exp, state, *, num: int, seed: int = 0, features: str = "classifier",
             inception_weights: str | None = None, inception_protocol: str | None = None,
             inception_quantize: str | None = None, reference_split: str | None = None,
             fake: dict | None = None, **kwargs) -> dict:
  """All metrics that apply to the run's dataset, as a flat dict of floats (and lists).

  ``features='inception'`` measures images in the FID Inception's pool3 space instead
  (``inception_metrics.evaluate_run``: fid, kid, is, precision/recall, density/coverage); its
  protocol, quantisation and reference split default to the run's train.inception_* fields.
  ``fake``: image samples the game drew itself (``evaluate_images``).
  """
  check_choice("features", features, FEATURES)
  if features == "inception":
    from gan_jax.evaluation import inception_metrics, inception_net

    tc = exp.config.train
    protocol = inception_net.Protocol.parse(
        inception_protocol or tc.get("inception_protocol", "pytorch_fid"),
        inception_quantize or tc.get("inception_quantize", "default"))
    out = inception_metrics.evaluate_run(
        exp, state, num=num, seed=seed, weights_path=inception_weights,
        cache_dir=kwargs.get("cache_dir"), protocol=protocol,
        reference_split=reference_split or tc.get("inception_reference_split", "train"),
        fake=fake)
  elif exp.dataset.is_image:
    out = evaluate_images(exp, state, num=num, seed=seed, fake=fake, **kwargs)
  else:
    out = evaluate_points(exp, state, num=num, seed=seed)
  return {k: (float(v) if isinstance(v, np.floating | float | int) and not isinstance(v, bool)
              else v) for k, v in out.items()}

