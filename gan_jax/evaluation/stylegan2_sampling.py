"""Sampling a StyleGAN2 game's EMA generator: truncation, style mixing, interpolation.

- ``draw``: G_ema(z, c) of the fixed latents of a seed (``sampling.fixed_latents``), with the
  truncation trick w ← w̄ + ψ(w - w̄) (w̄: the w average tracked in training);
- ``style_mixing_grid``: row i, column j synthesises ws whose first ``cutoff`` entries (coarse
  styles: 4x4 and 8x8) come from row latent i and the rest (fine styles) from column latent j;
- ``interpolation``: G along lerp(w_a, w_b, t) in W and slerp(z_a, z_b, t) in Z;
- ``FIGURES``: the grids ``gan_jax.sample --figure`` writes as PNG.
Noise inputs come from a fixed key, so every picture is a function of its latents.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.evaluation import sampling
from gan_jax.models import stylegan2 as sg


def _params(game, state):
  return state.ema_g_params if game.config.stylegan2.ema_kimg else state.g_params


@functools.cache
def _map_fn(generator):
  return jax.jit(lambda params, z, labels: generator.apply({"params": params}, z, labels,
                                                           method=generator.map))


@functools.cache
def _synth_fn(generator):
  def synth(params, ws):
    img = generator.apply({"params": params}, ws, jax.random.key(0), method=generator.synthesize)
    return sg.crop(img, generator.out_shape)
  return jax.jit(synth)


def truncate(w, w_avg, psi: float):
  """w̄ + ψ(w - w̄)."""
  return w_avg + psi * (w - w_avg)


def synthesize_w(game, state, w, *, batch_size: int = 250):
  """Images of per-example w (N, w_dim) (broadcast to every layer) or ws (N, num_ws, w_dim)."""
  g = game.generator
  params = _params(game, state)
  if w.ndim == 2:
    w = jnp.broadcast_to(w[:, None], (w.shape[0], g.num_ws, w.shape[-1]))
  outs = [np.asarray(_synth_fn(g)(params, w[i:i + batch_size]))
          for i in range(0, w.shape[0], batch_size)]
  return np.concatenate(outs)


def map_z(game, state, z, labels=None):
  return _map_fn(game.generator)(_params(game, state), z, labels)


def draw(game, state, *, num: int, seed: int, truncation: float = 1.0) -> dict:
  """{'images' (num, H, W, C) in [-1, 1], 'labels' for conditional runs}."""
  z, labels = sampling.fixed_latents(seed, num, game.config.model.z_dim, game.num_classes)
  w = map_z(game, state, z, labels)
  if truncation != 1.0:
    w = truncate(w, state.w_avg, truncation)
  out = {"images": synthesize_w(game, state, w)}
  if labels is not None:
    out["labels"] = np.asarray(labels, np.int32)
  return out


def style_mixing_grid(game, state, *, rows: int = 4, cols: int = 4, seed: int = 0,
                      cutoff: int = 4, truncation: float = 1.0) -> np.ndarray:
  """(rows+1)x(cols+1) grid of images: the top row the column latents' images, the left column
  the row latents', cell (i, j) row i's ws[:cutoff] (coarse) with column j's ws[cutoff:] (fine)."""
  g = game.generator
  z, labels = sampling.fixed_latents(seed, rows + cols, game.config.model.z_dim, game.num_classes)
  w = truncate(map_z(game, state, z, labels), state.w_avg, truncation)
  w_rows, w_cols = w[:rows], w[rows:]
  row_imgs, col_imgs = synthesize_w(game, state, w_rows), synthesize_w(game, state, w_cols)
  layer = jnp.arange(g.num_ws)[None, None, :, None]
  mixed = jnp.where(layer < cutoff, w_rows[:, None, None], w_cols[None, :, None])
  mixed = synthesize_w(game, state, mixed.reshape(rows * cols, g.num_ws, -1))
  blank = np.full_like(row_imgs[:1], -1.0)
  cells = [np.concatenate([blank, col_imgs])]
  for i in range(rows):
    cells.append(np.concatenate([row_imgs[i:i + 1], mixed[i * cols:(i + 1) * cols]]))
  return sampling.image_grid(np.concatenate(cells), rows + 1)


def slerp(a, b, t):
  """Spherical interpolation of z's (Karras et al. 2019): along the great circle of the unit
  directions, norms interpolated linearly."""
  na, nb = jnp.linalg.norm(a, axis=-1, keepdims=True), jnp.linalg.norm(b, axis=-1, keepdims=True)
  ua, ub = a / na, b / nb
  omega = jnp.arccos(jnp.clip(jnp.sum(ua * ub, -1, keepdims=True), -1.0, 1.0))
  so = jnp.sin(omega)
  u = (jnp.sin((1 - t) * omega) * ua + jnp.sin(t * omega) * ub) / jnp.maximum(so, 1e-8)
  return u * ((1 - t) * na + t * nb)


def interpolation(game, state, *, pairs: int = 4, steps: int = 8, seed: int = 0,
                  space: str = "w", truncation: float = 1.0) -> np.ndarray:
  """One row per latent pair, ``steps`` images from a to b: lerp in W ('w') or slerp in Z, each
  w truncated by ``truncation``."""
  z, labels = sampling.fixed_latents(seed, 2 * pairs, game.config.model.z_dim, game.num_classes)
  t = jnp.linspace(0.0, 1.0, steps)[None, :, None]
  za, zb = z[:pairs, None], z[pairs:, None]
  lab = None if labels is None else jnp.repeat(labels[:pairs], steps)
  if space == "w":
    wa = map_z(game, state, z[:pairs], None if labels is None else labels[:pairs])
    wb = map_z(game, state, z[pairs:], None if labels is None else labels[:pairs])
    w = (wa[:, None] + t * (wb[:, None] - wa[:, None])).reshape(pairs * steps, -1)
  elif space == "z":
    zs = slerp(za, zb, t).reshape(pairs * steps, -1)
    w = map_z(game, state, zs, lab)
  else:
    raise ValueError(f"space={space!r} is unknown; valid: w, z")
  w = truncate(w, state.w_avg, truncation)
  return sampling.image_grid(synthesize_w(game, state, w), pairs)


# The pictures of ``gan_jax.sample --figure``: name -> (state, seed, truncation) -> image grid.
FIGURES = {
    "style_mixing": lambda game, state, seed, psi: style_mixing_grid(
        game, state, rows=6, cols=6, seed=seed, truncation=psi),
    "interpolation_w": lambda game, state, seed, psi: interpolation(
        game, state, pairs=6, steps=10, seed=seed, space="w", truncation=psi),
    "interpolation_z": lambda game, state, seed, psi: interpolation(
        game, state, pairs=6, steps=10, seed=seed, space="z", truncation=psi),
}
