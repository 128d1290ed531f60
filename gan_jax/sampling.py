"""Drawing samples from a trained generator, and turning them into pictures."""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import state as state_lib


def fixed_latents(seed: int, num: int, z_dim: int, num_classes: int):
  """Reproducible (z, labels): label i % num_classes for sample i (None when unconditional)."""
  z = jax.random.normal(jax.random.fold_in(jax.random.key(seed), 7919), (num, z_dim))
  labels = jnp.arange(num) % num_classes if num_classes else None
  return z, labels


def make_generate_fn(generator):
  """jit-compiled G(z, c) in inference mode (running BatchNorm statistics)."""
  return jax.jit(lambda variables, z, labels: generator.apply(variables, z, labels, train=False))


def generate(generate_fn, state, z, labels, *, use_ema: bool, batch_size: int = 500):
  """Samples for every row of ``z`` as float32 numpy, in batches of ``batch_size``."""
  variables = state_lib.generator_variables(state, use_ema=use_ema)
  outs = []
  for i in range(0, z.shape[0], batch_size):
    lab = None if labels is None else labels[i:i + batch_size]
    outs.append(np.asarray(generate_fn(variables, z[i:i + batch_size], lab), np.float32))
  return np.concatenate(outs)


def image_grid(images: np.ndarray, rows: int) -> np.ndarray:
  """(N, H, W, C) in [-1, 1] -> one uint8 (rows*H, cols*W, C) picture, filled row by row."""
  n, h, w, c = images.shape
  cols = -(-n // rows)
  grid = np.ones((rows * h, cols * w, c), np.float32)
  for i, im in enumerate(images):
    r, k = divmod(i, cols)
    grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = im
  return np.clip((grid + 1) * 127.5, 0, 255).round().astype(np.uint8)


def scatter_png(fake: np.ndarray, real: np.ndarray | None = None, lim: float = 5.0) -> np.ndarray:
  """A 2-D scatter of generated (and real) points as an RGB uint8 array."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from PIL import Image

  fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
  if real is not None:
    ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:blue", alpha=0.3, label="real")
  ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:red", alpha=0.5, label="generated")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.legend(loc="upper right", fontsize=7)
  buf = io.BytesIO()
  fig.savefig(buf, format="png", bbox_inches="tight")
  plt.close(fig)
  buf.seek(0)
  return np.asarray(Image.open(buf).convert("RGB"))


def save_png(array: np.ndarray, path: str) -> None:
  from PIL import Image

  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  Image.fromarray(array).save(path)


def draw_samples(exp, state, num: int, seed: int) -> dict:
  """{'images' or 'samples': (num, ...) float32, 'labels': (num,) int32 when conditional}."""
  z, labels = fixed_latents(seed, num, exp.config.model.z_dim, exp.num_classes)
  x = generate(make_generate_fn(exp.generator), state, z, labels,
               use_ema=exp.config.ema_decay > 0)
  out = {"images" if exp.dataset.is_image else "samples": x}
  if labels is not None:
    out["labels"] = np.asarray(labels, np.int32)
  return out
