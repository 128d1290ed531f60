"""FIR up/down-sampling and resampling convolutions of StyleGAN2 (NHWC), as the reference ops
of stylegan2-ada-pytorch (torch_utils/ops/upfirdn2d.py ``_upfirdn2d_ref``, conv2d_resample.py).

upfirdn2d(x, f, up, down, pad, gain): insert up-1 zeros after every pixel (per axis), pad by
(p0, p1) per axis (negative crops), convolve with gain·f fᵀ (separable filters only: StyleGAN2's
[1, 3, 3, 1] and ADA's sym6 wavelet), keep every down-th pixel.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

FIR_TAPS = (1, 3, 3, 1)  # StyleGAN2's resampling filter
_DN = ("NHWC", "HWIO", "NHWC")


def setup_filter(taps=FIR_TAPS, gain: float = 1.0) -> np.ndarray:
  """The separable filter's 1-D taps k / Σk · √gain (the 2-D filter is their outer product,
  k kᵀ / Σ(k kᵀ) · gain: the reference's setup_filter of a 1-D list)."""
  k = np.asarray(taps, np.float64)
  return (k / k.sum() * np.sqrt(gain)).astype(np.float32)


def _fir(x, taps, axis: int, down: int):
  """Σ_j taps[j]·x[i + j] along ``axis`` (valid part), every ``down``-th output kept: shifted
  slices and adds (XLA:CPU's depthwise convolutions are far slower)."""
  n = x.shape[axis] - len(taps) + 1
  out = sum(float(t) * lax.slice_in_dim(x, j, j + n, axis=axis) for j, t in enumerate(taps))
  return lax.slice_in_dim(out, 0, n, stride=down, axis=axis) if down > 1 else out


def upfirdn2d(x, f, *, up: int = 1, down: int = 1, pad=(0, 0, 0, 0), gain: float = 1.0):
  """Upsample (zero insertion), pad (x0, x1, y0, y1; negative crops), FIR filter, downsample.

  x: (N, H, W, C); f: the 1-D taps of a separable filter (``setup_filter``), convolved (i.e.
  flipped, as the reference) along H and W, with gain·f ⊗ f.
  """
  px0, px1, py0, py1 = pad
  config = [(0, 0, 0), (py0, py1 + up - 1, up - 1), (px0, px1 + up - 1, up - 1), (0, 0, 0)]
  x = lax.pad(x, jnp.zeros((), x.dtype), config)
  taps = np.asarray(f, np.float64)[::-1] * np.sqrt(gain)
  return _fir(_fir(x, taps, 1, down), taps, 2, down)


def upsample2d(x, f, *, up: int = 2, gain: float = 1.0):
  """x upsampled up× with f, padded so that the output is up·H × up·W."""
  fh = len(f)
  p0, p1 = (fh + up - 1) // 2, (fh - up) // 2
  return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=gain * up * up)


def downsample2d(x, f, *, down: int = 2, pad: int = 0, gain: float = 1.0, flip: bool = False):
  """x filtered with f and downsampled down×, to H/down × W/down (``pad`` added per side)."""
  fh = len(f)
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
    fh = len(f)
    p0, p1 = p0 + (fh + up - 1) // 2, p1 + (fh - up) // 2
  if down > 1:
    fh = len(f)
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
