"""ADA, adaptive discriminator augmentation (Karras et al. 2020b), as stylegan2-ada-pytorch's
training/augment.py (AugmentPipe) and its p heuristic (training/training_loop.py).

Pipeline 'bgc', per image, each transform applied with probability p (its own draw):
  blit       x-flip, 90° rotations, integer translation (±1/8 of the size);
  geometric  isotropic scale (2^N(0, 0.2²)), rotation (U(-π, π), before and after the
             anisotropic scale, each with 1 - √(1 - p)), anisotropic scale (2^N(0, 0.2²)),
             fractional translation (N(0, 0.125²) of the size);
  colour     brightness (+N(0, 0.2²)), contrast (·2^N(0, 0.5²)), luma flip, hue rotation
             (U(-π, π) about the luma axis), saturation (·2^N(0, 1)) (the last two RGB only).
The geometric transforms compose into one inverse matrix G⁻¹; the image is reflect-padded,
upsampled 2x with the sym6 wavelet filter, sampled bilinearly at G⁻¹(output grid), and
downsampled 2x with the same filter (even at p = 0, as the reference). The reference pads by
the smallest margin its batch needs (at most size - 1); here always size - 1 (static shapes):
the same pixels are sampled. The colour transforms compose into one 4x4 matrix C on (r, g, b, 1)
(grey images use the mean of C's rows). Differentiable in the images (R1 sees through it).

Any game can use it: keep p and the sign sums in its state, pass every image D sees (real and
fake, as reg.diffaug) through ``augment(x, keys, p)`` with per-example keys drawn for the global
batch, and update p with ``adjust_p`` (games/stylegan2.py does; the GAN game's games/gan_steps.py
does not yet, and configs.validate refuses reg.ada_pipe there).

p heuristic: every ``interval`` steps, r_t = E[sign(D(real))] over those steps' real logits and
  p ← max(0, p + sign(r_t - target) · batch · interval / (ada_kimg · 1000)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.ops import upfirdn2d

PIPES = ("bgc",)
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036,
        -0.007800708325034148)
_I3, _I4 = np.eye(3, dtype=np.float32), np.eye(4, dtype=np.float32)


def check_pipe(pipe: str) -> None:
  if pipe not in ("",) + PIPES:
    raise ConfigError(f"reg.ada_pipe={pipe!r} is unknown; valid: '' (off), {', '.join(PIPES)}")


def _m(rows):
  return jnp.stack([jnp.stack([jnp.asarray(v, jnp.float32) for v in r]) for r in rows])


def translate2d(tx, ty):
  return _m([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def scale2d(sx, sy):
  return _m([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def rotate2d(t):
  return _m([[jnp.cos(t), -jnp.sin(t), 0], [jnp.sin(t), jnp.cos(t), 0], [0, 0, 1]])


def rotate3d(v, t):
  vx, vy, vz = v[0], v[1], v[2]
  s, c = jnp.sin(t), jnp.cos(t)
  cc = 1 - c
  return _m([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
             [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
             [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
             [0, 0, 0, 1]])


def geometric_matrix(key, p, width: int, height: int):
  """G⁻¹ (3x3) of one image's blit and geometric transforms (pixel units, centred)."""
  k = iter(jax.random.split(key, 20))
  u = lambda shape=(): jax.random.uniform(next(k), shape)  # noqa: E731
  n = lambda shape=(): jax.random.normal(next(k), shape)  # noqa: E731
  g = jnp.asarray(_I3)
  i = jnp.where(u() < p, jnp.floor(u() * 2), 0.0)  # x-flip
  g = g @ scale2d(1.0 / (1 - 2 * i), 1.0)
  i = jnp.where(u() < p, jnp.floor(u() * 4), 0.0)  # 90° rotations
  g = g @ rotate2d(np.pi / 2 * i)
  t = jnp.where(u() < p, (u((2,)) * 2 - 1) * 0.125, 0.0)  # integer translation
  g = g @ translate2d(-jnp.round(t[0] * width), -jnp.round(t[1] * height))
  s = jnp.where(u() < p, jnp.exp2(n() * 0.2), 1.0)  # isotropic scale
  g = g @ scale2d(1.0 / s, 1.0 / s)
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0, 1))  # P(pre or post rotation) = p
  theta = jnp.where(u() < p_rot, (u() * 2 - 1) * np.pi, 0.0)
  g = g @ rotate2d(theta)
  s = jnp.where(u() < p, jnp.exp2(n() * 0.2), 1.0)  # anisotropic scale
  g = g @ scale2d(1.0 / s, s)
  theta = jnp.where(u() < p_rot, (u() * 2 - 1) * np.pi, 0.0)
  g = g @ rotate2d(theta)
  t = jnp.where(u() < p, n((2,)) * 0.125, 0.0)  # fractional translation
  return g @ translate2d(-t[0] * width, -t[1] * height)


def color_matrix(key, p, num_channels: int):
  """C (4x4) of one image's colour transforms, on homogeneous (r, g, b, 1)."""
  k = iter(jax.random.split(key, 12))
  u = lambda: jax.random.uniform(next(k))  # noqa: E731
  n = lambda: jax.random.normal(next(k))  # noqa: E731
  c = jnp.asarray(_I4)
  b = jnp.where(u() < p, n() * 0.2, 0.0)
  c = _m([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]]) @ c
  s = jnp.where(u() < p, jnp.exp2(n() * 0.5), 1.0)
  c = _m([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]]) @ c
  v = np.asarray([1, 1, 1, 0], np.float32) / np.sqrt(3)
  vv = np.outer(v, v)
  i = jnp.where(u() < p, jnp.floor(u() * 2), 0.0)
  c = (_I4 - 2 * vv * i) @ c  # luma flip (Householder reflection)
  if num_channels > 1:
    theta = jnp.where(u() < p, (u() * 2 - 1) * np.pi, 0.0)
    c = rotate3d(v, theta) @ c  # hue
    s = jnp.where(u() < p, jnp.exp2(n()), 1.0)
    c = (vv + (_I4 - vv) * s) @ c  # saturation
  return c


def _bilinear(img, gx, gy):
  """grid_sample(bilinear, zeros, align_corners=False) of one (H, W, C) image at normalised
  coordinates (gx, gy) in [-1, 1]."""
  h, w, _ = img.shape
  ix, iy = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
  x0, y0 = jnp.floor(ix), jnp.floor(iy)
  out = 0.0
  for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
    xi, yi = x0 + dx, y0 + dy
    weight = (1 - jnp.abs(ix - xi)) * (1 - jnp.abs(iy - yi))
    valid = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
    v = img[jnp.clip(yi, 0, h - 1).astype(jnp.int32), jnp.clip(xi, 0, w - 1).astype(jnp.int32)]
    out = out + v * (weight * valid)[..., None]
  return out


def geometric(images, g_inv):
  """Images (N, H, W, C) resampled at G⁻¹ (N, 3, 3) of the output grid (module docstring)."""
  n, h, w, c = images.shape
  f = upfirdn2d.setup_filter(SYM6)
  hz_pad = len(SYM6) // 4
  mx, my = w - 1, h - 1
  x = jnp.pad(images, [(0, 0), (my, my), (mx, mx), (0, 0)], mode="reflect")
  x = upfirdn2d.upsample2d(x, f, up=2)
  g = scale2d(2, 2) @ g_inv @ scale2d(0.5, 0.5)
  g = translate2d(-0.5, -0.5) @ g @ translate2d(0.5, 0.5)
  out_h, out_w = (h + hz_pad * 2) * 2, (w + hz_pad * 2) * 2
  g = scale2d(2 / x.shape[2], 2 / x.shape[1]) @ g @ scale2d(out_w / 2, out_h / 2)
  xs = (2 * jnp.arange(out_w) + 1) / out_w - 1
  ys = (2 * jnp.arange(out_h) + 1) / out_h - 1
  base = jnp.stack(jnp.broadcast_arrays(xs[None, :], ys[:, None], jnp.ones((out_h, out_w))), -1)
  grid = jnp.einsum("nij,hwj->nhwi", g[:, :2, :], base)
  x = jax.vmap(_bilinear)(x, grid[..., 0], grid[..., 1])
  return upfirdn2d.downsample2d(x, f, down=2, pad=-hz_pad * 2, flip=True)


def apply_color(images, c):
  """Images (N, H, W, C) through the colour matrices (N, 4, 4)."""
  if images.shape[-1] == 3:
    return jnp.einsum("nij,nhwj->nhwi", c[:, :3, :3], images) + c[:, None, None, :3, 3]
  cm = jnp.mean(c[:, :3, :], axis=1)  # (N, 4)
  return images * jnp.sum(cm[:, :3], axis=-1)[:, None, None, None] + cm[:, 3][:, None, None, None]


def augment(images, keys, p):
  """The 'bgc' pipeline on images (N, H, W, C) with one key per image, probability p."""
  n, h, w, c = images.shape
  g_inv = jax.vmap(lambda k: geometric_matrix(jax.random.fold_in(k, 0), p, w, h))(keys)
  images = geometric(images, g_inv)
  cm = jax.vmap(lambda k: color_matrix(jax.random.fold_in(k, 1), p, c))(keys)
  return apply_color(images, cm)


def adjust_p(p, sign_sum, sign_count, *, target: float, batch_size: int, interval: int,
             ada_kimg: float):
  """p after one heuristic update from the accumulated sign(D(real)) sum and count."""
  r_t = sign_sum / jnp.maximum(sign_count, 1.0)
  step = batch_size * interval / (ada_kimg * 1000.0)
  return jnp.maximum(p + jnp.sign(r_t - target) * step, 0.0)
