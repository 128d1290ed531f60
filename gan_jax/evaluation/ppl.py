"""Perceptual path length (Karras et al. 2019), as stylegan2-ada-pytorch's
metrics/perceptual_path_length.py (its 'ppl2_wend': space W, sampling 'end', ε = 1e-4).

Protocol: for each of ``num`` pairs z0, z1 ~ N(0, I) (one label c for both, uniform over the
classes when conditional), w0 = f(z0, c), w1 = f(z1, c), t ~ U(0, 1) ('full') or t = 0 ('end'),

  d = dist(G(lerp(w0, w1, t)), G(lerp(w0, w1, t + ε))) / ε²,

both images with the same noise inputs; PPL is the mean of d over the pairs between its 1st and
99th percentiles. ``space='z'``: slerp(z0, z1, ·) mapped to W instead. dist is the reference's
LPIPS (VGG16 features, squared L2 of the unit-normalised, learned-weighted activations); this
module takes any ``distance(a, b) -> (N,)`` on image batches in [-1, 1]: ``classifier_distance``
(squared L2 between the project's MNIST classifier features: the fallback for MNIST) or an
LPIPS implementation when one is available.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import rng
from gan_jax.evaluation import stylegan2_sampling as sgs


def classifier_distance(classifier):
  """dist(a, b) = ‖φ(a) - φ(b)‖² with φ the classifier's penultimate features."""
  def dist(a, b):
    return np.sum(np.square(classifier.features(a) - classifier.features(b)), axis=-1)
  return dist


def path_distances(game, state, distance, *, num: int, seed: int = 0, epsilon: float = 1e-4,
                   space: str = "w", sampling: str = "end") -> np.ndarray:
  """d (num,) of the module docstring."""
  if space not in ("w", "z") or sampling not in ("end", "full"):
    raise ValueError(f"space={space!r} / sampling={sampling!r}; valid: w|z, end|full")
  key = rng.latent_key(seed)
  z0, z1 = jnp.split(jax.random.normal(key, (2 * num, game.config.model.z_dim)), 2)
  labels = None
  if game.num_classes:
    labels = jax.random.randint(jax.random.fold_in(key, 1), (num,), 0, game.num_classes)
  t = jax.random.uniform(jax.random.fold_in(key, 2), (num, 1)) * (sampling == "full")
  if space == "w":
    w0, w1 = sgs.map_z(game, state, z0, labels), sgs.map_z(game, state, z1, labels)
    wa, wb = w0 + t * (w1 - w0), w0 + (t + epsilon) * (w1 - w0)
  else:
    wa = sgs.map_z(game, state, sgs.slerp(z0, z1, t), labels)
    wb = sgs.map_z(game, state, sgs.slerp(z0, z1, t + epsilon), labels)
  img_a, img_b = sgs.synthesize_w(game, state, wa), sgs.synthesize_w(game, state, wb)
  return np.asarray(distance(img_a, img_b), np.float64) / epsilon ** 2


def perceptual_path_length(game, state, distance, **kwargs) -> float:
  """Mean of ``path_distances`` between their 1st and 99th percentiles."""
  d = path_distances(game, state, distance, **kwargs)
  lo, hi = np.percentile(d, 1, method="lower"), np.percentile(d, 99, method="higher")
  return float(d[(d >= lo) & (d <= hi)].mean())
