"""FIR up/down-sampling and resampling convolutions of StyleGAN2 (NHWC), as the reference ops
of stylegan2-ada-pytorch (torch_utils/ops/upfirdn2d.py ``_upfirdn2d_ref``, conv2d_resample.py).

upfirdn2d(x, f, up, down, pad, gain): insert up-1 zeros after every pixel (per axis), pad by
(p0, p1) per axis (negative crops), convolve with f·gain^(ndim/2) (f symmetric here, so
convolution = correlation), keep every down-th pixel. ``setup_filter`` makes f = k kᵀ / Σ(k kᵀ)
from taps k, e.g. StyleGAN2's [1, 3, 3, 1].
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

FIR_TAPS = (1, 3, 3, 1)  # StyleGAN2's resampling filter
_DN = ("NHWC", "HWIO", "NHWC")


def setup_filter(taps=FIR_TAPS, gain: float = 1.0, separable: bool = False) -> np.ndarray:
  """The 2-D filter f = k kᵀ / Σ(k kᵀ) · gain of 1-D taps k (float32); ``separable``: k / Σk
  (applied along each axis)."""
  k = np.asarray(taps, np.float64)
  f = np.outer(k, k) if k.ndim == 1 and not separable else k
  return (f / f.sum() * gain).astype(np.float32)


def upfirdn2d(x, f, *, up: int = 1, down: int = 1, pad=(0, 0, 0, 0), gain: float = 1.0):
  """Upsample (zero insertion), pad (x0, x1, y0, y1; negative crops), FIR filter, downsample.

  x: (N, H, W, C); f: a 2-D numpy filter, or 1-D taps of a separable one (flipped, as the
  reference convolves with it).
  """
  px0, px1, py0, py1 = pad
  c = x.shape[-1]
  config = [(0, 0, 0), (py0, py1 + up - 1, up - 1), (px0, px1 + up - 1, up - 1), (0, 0, 0)]
  x = lax.pad(x, jnp.zeros((), x.dtype), config)
  f = np.asarray(f, np.float32)
  if f.ndim == 1:  # separable: the rows, then the columns, each with gain^(1/2)
    k = f[::-1] * np.sqrt(gain)
    for shape, stride in (((k.size, 1), (down, 1)), ((1, k.size), (1, down))):
      kernel = jnp.asarray(np.tile(k.reshape(shape)[:, :, None, None], (1, 1, 1, c)), x.dtype)
      x = lax.conv_general_dilated(x, kernel, stride, "VALID", dimension_numbers=_DN,
                                   feature_group_count=c)
    return x
  kernel = f[::-1, ::-1] * gain
  kernel = jnp.asarray(np.tile(kernel[:, :, None, None], (1, 1, 1, c)), x.dtype)
  return lax.conv_general_dilated(x, kernel, (down, down), "VALID", dimension_numbers=_DN,
                                  feature_group_count=c)


def upsample2d(x, f, *, up: int = 2, gain: float = 1.0):
  """x upsampled up× with f, padded so that the output is up·H × up·W."""
  fh = f.shape[0]
  p0, p1 = (fh + up - 1) // 2, (fh - up) // 2
  return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=gain * up * up)


def downsample2d(x, f, *, down: int = 2, pad: int = 0, gain: float = 1.0, flip: bool = False):
  """x filtered with f and downsampled down×, to H/down × W/down (``pad`` added per side)."""
  fh = f.shape[0]
  p0, p1 = pad + (fh - down + 1) // 2, pad + (fh - down) // 2
  f = np.flip(np.asarray(f)) if flip else f
  return upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1), gain=gain)


def conv2d(x, w, *, stride: int = 1, padding: int = 0):
  """Cross-correlation of x (NHWC) with w (HWIO), symmetric zero padding."""
  return lax.conv_general_dilated(x, w, (stride, stride), [(padding, padding)] * 2,
                                  dimension_numbers=_DN)


def conv2d_resample(x, w, f=None, *, up: int = 1, down: int = 1, padding: int = 0):
  """conv2d_resample's 2-D convolution with FIR up/downsampling (padding w.r.t. the upsampled
  image, applied once), as its reference paths: 1x1 down = downsample then conv; k x k down =
  filter then strided conv; up = zero-insert, filter (gain up²), then conv."""
  kh = w.shape[0]
  p0 = p1 = padding
  if up > 1:
    fh = f.shape[0]
    p0, p1 = p0 + (fh + up - 1) // 2, p1 + (fh - up) // 2
  if down > 1:
    fh = f.shape[0]
    p0, p1 = p0 + (fh - down + 1) // 2, p1 + (fh - down) // 2
  if down > 1 and up == 1:
    if kh == 1:
      x = upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1))
      return conv2d(x, w)
    x = upfirdn2d(x, f, pad=(p0, p1, p0, p1))
    return conv2d(x, w, stride=down)
  if up > 1 and down == 1:
    if kh == 1:
      return upfirdn2d(conv2d(x, w), f, up=up, pad=(p0, p1, p0, p1), gain=up * up)
    x = upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)
    return conv2d(x, w)
  if up == 1 and down == 1:
    return conv2d(x, w, padding=padding)
  raise ValueError(f"up={up} and down={down} together are not supported")
