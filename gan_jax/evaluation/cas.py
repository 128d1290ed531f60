"""Classification Accuracy Score (Ravuri & Vinyals 2019): how well a classifier trained *only* on
a conditional model's samples classifies the real test set.

  CAS = accuracy on (x_test, y_test) of f trained on {(G(z_i, c_i), c_i)}

A generator whose class-conditional distributions equal the data's scores what a classifier
trained on as many real examples scores (``real_baseline``, reported as ``cas_real``); a model
whose samples miss a class's modes, or do not match their labels, scores lower.

The classifier is a pixel MLP, x -> Dense(256) -> ReLU -> Dense(K), trained with Adam(1e-3) for
``CAS_TRAIN_STEPS`` steps of batch ``CAS_BATCH`` (Ravuri & Vinyals use a ResNet; this one costs
about a second on a CPU, so ``evaluate`` can report it at every evaluation of a conditional
run). The in-project CNN (``classifier.train_classifier``) took 403 s for 300 steps on this
shared 2-core CPU: too dear for an evaluation. CAS is only comparable to ``cas_real`` of the
same recipe and sample count.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.data.dataset import Dataset

CAS_TRAIN_STEPS = 500  # ~32 epochs of 2000 samples
CAS_BATCH = 128
CAS_LR = 1e-3
CAS_HIDDEN = 256


class _PixelMLP(nn.Module):
  num_classes: int

  @nn.compact
  def __call__(self, x):
    h = nn.relu(nn.Dense(CAS_HIDDEN)(x.reshape((x.shape[0], -1))))
    return nn.Dense(self.num_classes)(h)


@functools.cache
def _train_fns(num_classes: int, train_steps: int):
  model = _PixelMLP(num_classes)
  tx = optax.adam(CAS_LR)

  @jax.jit
  def fit(params, x, y, batches):
    """``train_steps`` Adam steps, step i on rows ``batches[i]`` of (x, y), one lax.scan."""

    def step(carry, idx):
      params, opt_state = carry
      loss_fn = lambda p: optax.softmax_cross_entropy_with_integer_labels(  # noqa: E731
          model.apply({"params": p}, x[idx]), y[idx]).mean()
      grads = jax.grad(loss_fn)(params)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), batches)
    return params

  @jax.jit
  def predict(params, x):
    return jnp.argmax(model.apply({"params": params}, x), -1)

  return model, fit, predict


def fit_predict(train_x, train_y, test_x, *, num_classes: int,
                train_steps: int = CAS_TRAIN_STEPS, seed: int = 0) -> np.ndarray:
  """Predicted classes of ``test_x`` by the pixel MLP trained on (train_x, train_y), batches
  drawn from ``np.random.default_rng(seed)``."""
  x = jnp.asarray(train_x, jnp.float32)
  y = jnp.asarray(train_y, jnp.int32)
  model, fit, predict = _train_fns(num_classes, train_steps)
  rng = np.random.default_rng(seed)
  batch = min(CAS_BATCH, len(x))
  batches = np.stack([rng.choice(len(x), batch, replace=False) for _ in range(train_steps)])
  params = model.init(jax.random.key(seed), x[:1])["params"]
  params = fit(params, x, y, jnp.asarray(batches))
  return np.concatenate([np.asarray(predict(params, test_x[i:i + 2000]))
                         for i in range(0, len(test_x), 2000)])


def classification_accuracy_score(images, labels, dataset: Dataset, *,
                                  train_steps: int = CAS_TRAIN_STEPS, seed: int = 0) -> float:
  """Test accuracy on ``dataset``'s real test split of the pixel MLP trained only on the
  labelled samples ``(images, labels)``."""
  pred = fit_predict(images, labels, dataset.test_x, num_classes=dataset.num_classes,
                     train_steps=train_steps, seed=seed)
  return float(np.mean(pred == np.asarray(dataset.test_y)))


def balanced_real_subset(dataset: Dataset, num: int, seed: int = 0):
  """``num`` real training examples, example i of class i % K (as a conditional model's
  evaluation samples are labelled), drawn without replacement within each class."""
  rng = np.random.default_rng(seed)
  labels = np.arange(num) % dataset.num_classes
  idx = np.empty(num, np.int64)
  for k in range(dataset.num_classes):
    pool = np.flatnonzero(dataset.train_y == k)
    want = np.flatnonzero(labels == k)
    idx[want] = rng.choice(pool, len(want), replace=len(want) > len(pool))
  return dataset.train_x[idx], labels.astype(np.int32)


def real_baseline(dataset: Dataset, num: int, *, train_steps: int = CAS_TRAIN_STEPS,
                  seed: int = 0) -> float:
  """The CAS of an oracle generator: ``num`` class-balanced real training examples
  (``balanced_real_subset``), the same recipe."""
  x, y = balanced_real_subset(dataset, num, seed)
  return classification_accuracy_score(x, y, dataset, train_steps=train_steps, seed=seed)
