"""Convolution layers with hand-written gradients that are faster on XLA:CPU than the stock ones.

``FastConvTranspose`` is a drop-in for ``nn.ConvTranspose(..., padding='SAME'|'VALID')`` and
``FastConv`` for ``nn.Conv`` (2-D, NHWC/HWIO): same parameters, initialisers and outputs.

Maths, per spatial axis. A strided convolution with kernel V, stride s and padding (a, b),
  S(x; V)[i] = Σ_j V[j] · x[s·i + j - a],
and an input-dilated ("transposed") convolution with kernel W and padding (p, q),
  T(u; W)[o] = Σ_j W[j] · ũ[o + j - p],   ũ[s·i] = u[i] (zero elsewhere),
are each other's transposes in their input once the kernel is flipped in space and its in/out
channels swapped (W* = flip(W)ᵀ):  ⟨g, T(u; W)⟩ = ⟨u, S(g; W*)⟩ for the right padding. Hence
  ∂/∂u ⟨g, T(u; W)⟩ = S(g; W*),     ∂/∂W ⟨g, T(u; W)⟩ = ∇_W ⟨u, S(g; W*)⟩,
  ∂/∂x ⟨g, S(x; V)⟩ = T(g; V*),     ∂/∂V ⟨g, S(x; V)⟩ = stock kernel gradient of S.
Stock autodiff computes ∂/∂W of T as an input-dilated convolution, which XLA:CPU runs ~20x slower
than the kernel gradient of the strided convolution S used here. The two primitives are
``jax.custom_vjp`` functions whose backward passes call each other, so grad-of-grad (e.g. a
gradient penalty) stays on the fast path. Forward-mode (``jax.jvp``) is not supported.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_DN = ("NHWC", "HWIO", "NHWC")
Pads = tuple[tuple[int, int], tuple[int, int]]


def _flip(kernel):
  """W* = flip(W)ᵀ: spatial axes reversed, in/out channels swapped (HWIO)."""
  return jnp.swapaxes(kernel[::-1, ::-1], 2, 3)


def _strided_pads_for_transpose(u_shape, y_shape, k_shape, strides, pads) -> Pads:
  """Padding of S(g; W*) = ∂/∂u ⟨g, T(u; W)⟩: (k-1-p, (m-1)·s + 1 + p - n) for u size m."""
  return tuple(
      (k - 1 - p, (m - 1) * s + 1 + p - n)
      for m, n, k, s, (p, _) in zip(
          u_shape[1:3], y_shape[1:3], k_shape[:2], strides, pads, strict=True))


def _dilated_pads_for_transpose(x_shape, y_shape, k_shape, strides, pads) -> Pads:
  """Padding of T(g; V*) = ∂/∂x ⟨g, S(x; V)⟩: (k-1-a, n + a - (m-1)·s - 1) for x size n."""
  return tuple(
      (k - 1 - a, n + a - (m - 1) * s - 1)
      for n, m, k, s, (a, _) in zip(
          x_shape[1:3], y_shape[1:3], k_shape[:2], strides, pads, strict=True))


def _forward_saving_inputs(conv):
  """The custom_vjp forward rule of ``conv``: y, with residuals (input, kernel, y's shape)."""

  def forward(x, kernel, strides, pads):
    y = conv(x, kernel, strides, pads)
    return y, (x, kernel, y.shape)

  return forward


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_dilated(u, kernel, strides: tuple[int, int], pads: Pads):
  """T(u; W): ``conv_general_dilated(u, W, 1, pads, lhs_dilation=strides)`` (NHWC, HWIO)."""
  return lax.conv_general_dilated(
      u, kernel, (1, 1), pads, lhs_dilation=strides, dimension_numbers=_DN)


def _conv_dilated_bwd(strides, pads, res, g):
  u, kernel, y_shape = res
  spads = _strided_pads_for_transpose(u.shape, y_shape, kernel.shape, strides, pads)
  # du = S(g; W*);  dW = ∇_W ⟨u, S(g; W*)⟩: one vjp of the strided convolution gives both.
  du, pull = jax.vjp(lambda w: conv_strided(g, _flip(w), strides, spads), kernel)
  (dkernel,) = pull(u.astype(du.dtype))
  return du, dkernel


conv_dilated.defvjp(_forward_saving_inputs(conv_dilated), _conv_dilated_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_strided(x, kernel, strides: tuple[int, int], pads: Pads):
  """S(x; V): ``conv_general_dilated(x, V, strides, pads)`` (NHWC, HWIO)."""
  return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=_DN)


def _conv_strided_bwd(strides, pads, res, g):
  x, kernel, y_shape = res
  dpads = _dilated_pads_for_transpose(x.shape, y_shape, kernel.shape, strides, pads)
  dx = conv_dilated(g, _flip(kernel), strides, dpads)  # T(g; V*)
  # The stock kernel gradient of a strided convolution is already fast.
  _, pull = jax.vjp(
      lambda v: lax.conv_general_dilated(x, v, strides, pads, dimension_numbers=_DN), kernel)
  (dkernel,) = pull(g)
  return dx, dkernel


conv_strided.defvjp(_forward_saving_inputs(conv_strided), _conv_strided_bwd)


def _transpose_pads(k: int, s: int, padding: str) -> tuple[int, int]:
  """(p, q) ``lax.conv_transpose`` picks: 'SAME' gives output s·m, 'VALID' s·m + max(k-s, 0)."""
  if padding == "SAME":
    total = k + s - 2
    low = k - 1 if s > k - 1 else -(-total // 2)
  else:
    total = k + s - 2 + max(k - s, 0)
    low = k - 1
  return low, total - low


def conv_transpose(x, kernel, strides: tuple[int, int], padding: str = "SAME"):
  """``lax.conv_transpose(x, kernel, strides, padding)`` (NHWC, HWIO) with a fast backward."""
  pads = tuple(
      _transpose_pads(k, s, padding.upper())
      for k, s in zip(kernel.shape[:2], strides, strict=True))
  return conv_dilated(x, kernel, tuple(strides), pads)


def _pair(v, name: str) -> tuple[int, int]:
  if v is None:
    return (1, 1)
  if isinstance(v, int):
    return (v, v)
  v = tuple(int(e) for e in v)
  if len(v) != 2:
    raise ValueError(f"only 2-D convolutions are supported; {name}={v} has {len(v)} entries")
  return v


def _flatten_batch(inputs, name: str):
  if inputs.ndim < 3:
    raise ValueError(f"{name} needs (..., H, W, C) inputs, got shape {inputs.shape}")
  return inputs.shape[:-3], inputs.reshape((-1,) + inputs.shape[-3:])


class FastConvTranspose(nn.Module):
  """y = T(x; W) + b, as ``nn.ConvTranspose`` with 'SAME' or 'VALID' padding, fast backward.

  NHWC inputs (extra leading batch axes are flattened, none is added), params ``kernel``
  (kh, kw, in, out) and ``bias`` (out,) with nn.ConvTranspose's initialisers; 'SAME' output size
  = input size · stride. Explicit/circular padding and kernel dilation raise ``ValueError``.
  """

  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] | None = None
  padding: str = "SAME"
  use_bias: bool = True
  dtype: jnp.dtype | None = None
  param_dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, inputs):
    if not (isinstance(self.padding, str) and self.padding.upper() in ("SAME", "VALID")):
      raise ValueError(
          f"FastConvTranspose supports padding 'SAME' or 'VALID' only, got {self.padding!r}")
    kernel_size, strides = _pair(self.kernel_size, "kernel_size"), _pair(self.strides, "strides")
    batch_shape, x = _flatten_batch(inputs, "FastConvTranspose")
    kernel = self.param(
        "kernel", self.kernel_init, kernel_size + (x.shape[-1], self.features), self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = conv_transpose(x, kernel, strides, self.padding)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])


class FastConv(nn.Module):
  """y = S(x; V) + b, as ``nn.Conv`` (2-D, no dilation or groups), with a fast backward.

  Padding: 'SAME', 'VALID', an int, or ((lo, hi), (lo, hi)). Params ``kernel`` (kh, kw, in, out)
  and ``bias`` (out,) with nn.Conv's initialisers. Its input gradient T(g; V*) has the fast
  kernel gradient, which a gradient penalty on the input needs.
  """

  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] | None = None
  padding: str | int | Sequence[tuple[int, int]] = "SAME"
  use_bias: bool = True
  dtype: jnp.dtype | None = None
  param_dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, inputs):
    kernel_size, strides = _pair(self.kernel_size, "kernel_size"), _pair(self.strides, "strides")
    batch_shape, x = _flatten_batch(inputs, "FastConv")
    if isinstance(self.padding, str):
      if self.padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"FastConv padding {self.padding!r} is not 'SAME' or 'VALID'")
      pads = lax.padtype_to_pads(x.shape[1:3], kernel_size, strides, self.padding.upper())
    elif isinstance(self.padding, int):
      pads = ((self.padding, self.padding),) * 2
    else:
      pads = tuple((lo, hi) for lo, hi in self.padding)
      if len(pads) != 2:
        raise ValueError(f"FastConv needs 2 (lo, hi) padding pairs, got {self.padding!r}")
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    kernel = self.param(
        "kernel", self.kernel_init, kernel_size + (x.shape[-1], self.features), self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = conv_strided(x, kernel, strides, pads)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])
