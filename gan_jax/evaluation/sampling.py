"""Drawing samples from a trained generator, and turning them into pictures."""

from __future__ import annotations

import functools
import io

import flax
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import rng


def fixed_latents(seed: int, num: int, z_dim: int, num_classes: int):
  """Reproducible (z, labels) of a latent seed (``rng``'s sample, eval or standing stream):
  z from ``rng.latent_key(seed)``, label i % num_classes for sample i (None when unconditional)."""
  z = jax.random.normal(rng.latent_key(seed), (num, z_dim))
  labels = jnp.arange(num) % num_classes if num_classes else None
  return z, labels


@functools.cache
def make_generate_fn(generator):
  """jit-compiled G(z, c) in inference mode (running BatchNorm statistics), one per generator
  (a Flax module is a hashable dataclass), so each batch shape compiles once per process."""
  return jax.jit(lambda variables, z, labels: generator.apply(variables, z, labels, train=False))


# What the EMA generator normalises with: BatchNorm statistics recomputed for the EMA weights at
# sampling time ('standing'), the EMA of the live G's running statistics ('ema'), or the live
# G's running statistics themselves ('live').
EMA_BN_STATS = ("standing", "ema", "live")
# Standing statistics: G in train mode on STANDING_BATCHES batches of STANDING_BATCH_SIZE fixed
# latents (labels i % K), each batch's statistics pooled with equal weight.
STANDING_BATCHES, STANDING_BATCH_SIZE = 4, 256


def standing_batch_stats(generator, variables, *, z_dim: int, num_classes: int, seed: int = 0):
  """BatchNorm statistics of ``variables``' G on its own samples (BigGAN's standing stats).

  Each of STANDING_BATCHES train-mode passes normalises with its own batch statistics and
  reports them exactly (a copy of G with BatchNorm momentum 0). With equal batches, the pooled
  mean is the average of the batch means m_i, and the pooled (biased) variance
  avg(v_i + m_i²) - mean²: the statistics of all STANDING_BATCHES·STANDING_BATCH_SIZE samples.
  Returns ``variables``' whole ``batch_stats`` collection with those means and variances; its
  other entries (spectral norm's u and σ in a spectrally normalised G) are kept as they are.
  """
  exact = generator.clone(bn_momentum=0.0, axis_name=None)
  z, labels = fixed_latents(rng.streams(seed).standing, STANDING_BATCHES * STANDING_BATCH_SIZE,
                            z_dim, num_classes)
  passes = [_batch_stats_of(exact, variables, z[i:i + STANDING_BATCH_SIZE],
                            None if labels is None else labels[i:i + STANDING_BATCH_SIZE])
            for i in range(0, len(z), STANDING_BATCH_SIZE)]
  means = [p["mean"] for p in passes]
  mean = jax.tree.map(lambda *m: sum(m) / len(m), *means)
  second = jax.tree.map(lambda *vm: sum(vm) / len(vm),
                        *[jax.tree.map(lambda v, m: v + m * m, p["var"], p["mean"])
                          for p in passes])
  var = jax.tree.map(lambda s, m: jnp.maximum(s - m * m, 0.0), second, mean)
  flat = flax.traverse_util.flatten_dict(variables["batch_stats"])
  for name, tree in (("mean", mean), ("var", var)):
    flat.update({path + (name,): v for path, v in flax.traverse_util.flatten_dict(tree).items()})
  return flax.traverse_util.unflatten_dict(flat)


@functools.partial(jax.jit, static_argnums=0)
def _batch_stats_of(generator, variables, z, labels):
  _, updates = generator.apply(variables, z, labels, train=True, mutable=["batch_stats"])
  return _split_stats(updates["batch_stats"])


def _split_stats(batch_stats):
  """{'mean': tree, 'var': tree} of a BatchNorm statistics tree (leaves named mean and var)."""
  flat = flax.traverse_util.flatten_dict(batch_stats)
  return {k: flax.traverse_util.unflatten_dict(
      {path[:-1]: v for path, v in flat.items() if path[-1] == k}) for k in ("mean", "var")}


def generator_variables(state, *, use_ema: bool, batch_stats=None) -> dict:
  """G's variables for inference: EMA or raw params, with ``batch_stats`` when given, else the
  BatchNorm statistics that go with them in the state (ema_g_batch_stats or g_batch_stats)."""
  params = state.ema_g_params if use_ema else state.g_params
  out = {"params": params}
  if state.g_batch_stats:
    if batch_stats is None:
      batch_stats = state.ema_g_batch_stats if use_ema else state.g_batch_stats
    out["batch_stats"] = batch_stats
  return out


def sampling_variables(exp, state) -> dict:
  """The variables of the generator a run documents for sampling and evaluation.

  The EMA params when the run keeps an EMA (ema_decay > 0), with the BatchNorm statistics of
  ``config.ema_bn_stats`` (see EMA_BN_STATS); else the raw G with its running statistics.
  """
  c = exp.config
  use_ema = c.ema_decay > 0
  variables = generator_variables(state, use_ema=use_ema)
  mode = c.get("ema_bn_stats", "standing")
  if use_ema and state.g_batch_stats:
    if mode == "live":
      variables["batch_stats"] = state.g_batch_stats
    elif mode == "standing":
      variables["batch_stats"] = standing_batch_stats(
          exp.generator, variables, z_dim=c.model.z_dim, num_classes=exp.num_classes,
          seed=c.seed)
  return variables


def generate(generate_fn, variables, z, labels, *, batch_size: int = 500):
  """G(z, labels) for every row of ``z`` with ``variables`` (of ``sampling_variables``), as
  float32 numpy, in batches of min(batch_size, rows): a ragged last batch is padded (with its
  last row) to that size and cut back, so every batch has the one compiled shape."""
  num = z.shape[0]
  batch_size = min(batch_size, num)
  pad = lambda a, n: jnp.pad(  # noqa: E731 - repeat the last row n times
      jnp.asarray(a), [(0, n)] + [(0, 0)] * (np.ndim(a) - 1), mode="edge")
  outs = []
  for i in range(0, num, batch_size):
    rows = min(batch_size, num - i)
    lab = None if labels is None else pad(labels[i:i + rows], batch_size - rows)
    out = generate_fn(variables, pad(z[i:i + rows], batch_size - rows), lab)
    outs.append(np.asarray(out, np.float32)[:rows])
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
  x = generate(make_generate_fn(exp.generator), sampling_variables(exp, state), z, labels)
  out = {"images" if exp.dataset.is_image else "samples": x}
  if labels is not None:
    out["labels"] = np.asarray(labels, np.int32)
  return out
