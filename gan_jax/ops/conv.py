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

On CPU, where s > 1 divides k and x has ≥ 16 channels (DCGAN's 64→128 layer, and S(g; W*) in the
backward pass of its 128→64 transposed layer), S(x; V) itself runs as the matrix product P·V of
the im2col patches P, built from contiguous slices of a space-to-depth view of x, and its kernel
gradient as Pᵀ·g from the same saved P: both faster than XLA:CPU's convolutions.
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


_MIN_PATCH_CHANNELS = 16


def _uses_patches(x_shape, k_shape, strides, patches: bool) -> bool:
  """Whether S(x; V) runs as one matrix product P·V on the patches P of ``_patches``.

  With ``patches`` (chosen per backend by ``resolve_impl``, before tracing: XLA:CPU), strided
  (s > 1) kernels with s | k and at least ``_MIN_PATCH_CHANNELS`` input channels: there the
  product, and Pᵀ·g for the kernel gradient from the same saved P, beat the convolutions
  (docs/results.md, "Training speed against PyTorch"); with few channels the matrix is too thin
  to pay.
  """
  return (patches and x_shape[-1] >= _MIN_PATCH_CHANNELS
          and all(s > 1 for s in strides)
          and all(k % s == 0 for k, s in zip(k_shape[:2], strides, strict=True)))


def _patches(x, k_shape, strides, pads):
  """The im2col matrix P of S(x; V): S(x; V) = P · V.reshape(k_h·k_w·C, O).

  P[(b, i, j), (m, n, c)] = x̃[b, s·i + m, s·j + n, c] for x̃ = pad(x). Splitting the rows and
  columns by phase, m = s·a + p and n = s·e + r, x̃ viewed (for free) as
  X[b, I, p, J, (r, c)] = x̃[b, s·I + p, s·J + r, c] gives
    P[(b, i, j), (a, p, e, (r, c))] = X[b, i + a, p, j + e, (r, c)]:
  (k/s)²·s slices of X whose rows of s·C numbers are contiguous, rather than k² gathers of C.
  Returns P (B·OH·OW, k_h·k_w·C) and the output's (B, OH, OW).
  """
  n, h, w, c = x.shape
  (kh, kw), (sh, sw) = k_shape[:2], strides
  oh = (h + sum(pads[0]) - kh) // sh + 1
  ow = (w + sum(pads[1]) - kw) // sw + 1
  hp, wp = (oh - 1) * sh + kh, (ow - 1) * sw + kw  # the rows S reads: multiples of s, as s | k
  xp = lax.pad(x, jnp.zeros((), x.dtype), (
      (0, 0, 0), (pads[0][0], hp - h - pads[0][0], 0), (pads[1][0], wp - w - pads[1][0], 0),
      (0, 0, 0)))  # A negative high pad crops rows S never reads.
  phases = xp.reshape(n, hp // sh, sh, wp // sw, sw * c)
  shifts = [phases[:, a:a + oh, p, e:e + ow]
            for a in range(kh // sh) for p in range(sh) for e in range(kw // sw)]
  return jnp.stack(shifts, axis=3).reshape(n * oh * ow, kh * kw * c), (n, oh, ow)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_dilated(u, kernel, strides: tuple[int, int], pads: Pads, patches: bool = True):
  """T(u; W): ``conv_general_dilated(u, W, 1, pads, lhs_dilation=strides)`` (NHWC, HWIO).

  ``patches``: whether the strided convolutions of its backward pass may run on patches."""
  return lax.conv_general_dilated(
      u, kernel, (1, 1), pads, lhs_dilation=strides, dimension_numbers=_DN)


def _conv_dilated_fwd(u, kernel, strides, pads, patches):
  y = conv_dilated(u, kernel, strides, pads, patches)
  return y, (u, kernel, y.shape)


def _conv_dilated_bwd(strides, pads, patches, res, g):
  u, kernel, y_shape = res
  spads = _strided_pads_for_transpose(u.shape, y_shape, kernel.shape, strides, pads)
  # du = S(g; W*);  dW = ∇_W ⟨u, S(g; W*)⟩: one vjp of the strided convolution gives both.
  du, pull = jax.vjp(lambda w: conv_strided(g, _flip(w), strides, spads, patches), kernel)
  (dkernel,) = pull(u.astype(du.dtype))
  return du, dkernel


conv_dilated.defvjp(_conv_dilated_fwd, _conv_dilated_bwd)


def _strided_forward(x, kernel, strides, pads, patches):
  """(S(x; V), what its kernel gradient needs: the patches P where used, else x)."""
  if _uses_patches(x.shape, kernel.shape, strides, patches):
    patches, out_shape = _patches(x, kernel.shape, strides, pads)
    y = patches @ kernel.reshape(-1, kernel.shape[-1])
    return y.reshape(out_shape + kernel.shape[-1:]), patches
  return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=_DN), x


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_strided(x, kernel, strides: tuple[int, int], pads: Pads, patches: bool = True):
  """S(x; V): ``conv_general_dilated(x, V, strides, pads)`` (NHWC, HWIO); on patches where
  ``patches`` allows (``_uses_patches``)."""
  return _strided_forward(x, kernel, strides, pads, patches)[0]


def _conv_strided_fwd(x, kernel, strides, pads, patches):
  y, saved = _strided_forward(x, kernel, strides, pads, patches)
  return y, (saved, x.shape, kernel, y.shape)


def _conv_strided_bwd(strides, pads, patches, res, g):
  saved, x_shape, kernel, y_shape = res
  dpads = _dilated_pads_for_transpose(x_shape, y_shape, kernel.shape, strides, pads)
  dx = conv_dilated(g, _flip(kernel), strides, dpads, patches)  # T(g; V*)
  if _uses_patches(x_shape, kernel.shape, strides, patches):
    # ∂/∂V ⟨g, P·V⟩ = Pᵀ·g (V as a matrix), written as gᵀ·P and transposed by the moveaxis:
    # XLA:CPU runs that dot ~1.5x faster than the Pᵀ·g it makes of `P.T @ g` or `(g.T @ P).T`.
    g_rows = g.reshape(-1, g.shape[-1])
    dkernel = jnp.moveaxis(
        (g_rows.T @ saved).reshape(kernel.shape[-1:] + kernel.shape[:-1]), 0, -1)
  else:  # The stock kernel gradient of a strided convolution is fast enough here.
    _, pull = jax.vjp(
        lambda v: lax.conv_general_dilated(saved, v, strides, pads, dimension_numbers=_DN),
        kernel)
    (dkernel,) = pull(g)
  return dx, dkernel


conv_strided.defvjp(_conv_strided_fwd, _conv_strided_bwd)


def _transpose_pads(k: int, s: int, padding: str) -> tuple[int, int]:
  """(p, q) ``lax.conv_transpose`` picks: 'SAME' gives output s·m, 'VALID' s·m + max(k-s, 0)."""
  if padding == "SAME":
    total = k + s - 2
    low = k - 1 if s > k - 1 else -(-total // 2)
  else:
    total = k + s - 2 + max(k - s, 0)
    low = k - 1
  return low, total - low


def conv_transpose(x, kernel, strides: tuple[int, int], padding: str = "SAME",
                   patches: bool = True):
  """``lax.conv_transpose(x, kernel, strides, padding)`` (NHWC, HWIO) with a fast backward."""
  pads = tuple(
      _transpose_pads(k, s, padding.upper())
      for k, s in zip(kernel.shape[:2], strides, strict=True))
  return conv_dilated(x, kernel, tuple(strides), pads, patches)


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


class _FastConvBase(nn.Module):
  """The fields, parameters and bias of ``FastConv`` and ``FastConvTranspose`` (nn.Conv's)."""

  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] | None = None
  padding: str | int | Sequence[tuple[int, int]] = "SAME"
  use_bias: bool = True
  dtype: jnp.dtype | None = None
  param_dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
  # The wide strided convolutions (forward or backward) as matrix products on patches (XLA:CPU).
  patches: bool = True

  def _kernel_and_bias(self, x, kernel_size):
    """(x, kernel (kh, kw, in, out), bias (out,) or None), promoted to ``dtype``."""
    kernel = self.param(
        "kernel", self.kernel_init, kernel_size + (x.shape[-1], self.features), self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    return nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)

  @staticmethod
  def _output(y, bias, batch_shape):
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])


class FastConvTranspose(_FastConvBase):
  """y = T(x; W) + b, as ``nn.ConvTranspose`` with 'SAME' or 'VALID' padding, fast backward.

  NHWC inputs (extra leading batch axes are flattened, none is added), params ``kernel``
  (kh, kw, in, out) and ``bias`` (out,) with nn.ConvTranspose's initialisers; 'SAME' output size
  = input size · stride. Explicit/circular padding and kernel dilation raise ``ValueError``.
  """

  @nn.compact
  def __call__(self, inputs):
    if not (isinstance(self.padding, str) and self.padding.upper() in ("SAME", "VALID")):
      raise ValueError(
          f"FastConvTranspose supports padding 'SAME' or 'VALID' only, got {self.padding!r}")
    kernel_size, strides = _pair(self.kernel_size, "kernel_size"), _pair(self.strides, "strides")
    batch_shape, x = _flatten_batch(inputs, "FastConvTranspose")
    x, kernel, bias = self._kernel_and_bias(x, kernel_size)
    y = conv_transpose(x, kernel, strides, self.padding, self.patches)
    return self._output(y, bias, batch_shape)


class FastConv(_FastConvBase):
  """y = S(x; V) + b, as ``nn.Conv`` (2-D, no dilation or groups), with a fast backward.

  Padding: 'SAME', 'VALID', an int, or ((lo, hi), (lo, hi)). Params ``kernel`` (kh, kw, in, out)
  and ``bias`` (out,) with nn.Conv's initialisers. Its input gradient T(g; V*) has the fast
  kernel gradient, which a gradient penalty on the input needs.
  """

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
    x, kernel, bias = self._kernel_and_bias(x, kernel_size)
    y = conv_strided(x, kernel, strides, pads, self.patches)
    return self._output(y, bias, batch_shape)

# model.conv_impl: 'fast' (the custom-gradient layers above), 'stock' (flax.linen's), or 'auto'
# ('fast' on CPU, where it was measured ~3x faster for the DCGAN step, 'stock' elsewhere).
CONV_IMPLS = ("fast", "stock", "auto")
# What ``resolve_impl`` turns them into for a backend: 'fast' on CPU also runs the wide strided
# convolutions on patches, 'fast_conv' (the custom gradients alone) is 'fast' elsewhere.
RESOLVED_IMPLS = ("fast", "fast_conv", "stock")


def resolve_impl(impl: str, backend: str) -> str:
  """The layer implementation for ``model.conv_impl=impl`` on ``backend`` (e.g.
  ``jax.default_backend()``), decided once when the models are built, never while tracing."""
  if impl not in CONV_IMPLS:
    raise ValueError(f"model.conv_impl={impl!r} is unknown; valid: {', '.join(CONV_IMPLS)}")
  if impl == "auto":
    impl = "fast" if backend == "cpu" else "stock"
  if impl == "fast" and backend != "cpu":
    return "fast_conv"
  return impl


def layer_classes(impl: str):
  """(Conv, ConvTranspose) of a resolved implementation (``RESOLVED_IMPLS``; ``resolve_impl``).

  'fast' and 'fast_conv' have flax.linen's parameters and, to float tolerance, its outputs and
  gradients; they route the transposed convolution's kernel gradient through a strided
  convolution ('fast' also runs the wide strided convolutions as matrix products on patches):
  2.3-3.3x faster for the whole DCGAN step on XLA:CPU (docs/results.md, "Training speed
  against PyTorch").
  """
  if impl not in RESOLVED_IMPLS:
    raise ValueError(f"conv implementation {impl!r} is unknown; valid: "
                     f"{', '.join(RESOLVED_IMPLS)} (see resolve_impl)")
  if impl == "stock":
    return nn.Conv, nn.ConvTranspose
  patches = impl == "fast"
  return (functools.partial(FastConv, patches=patches),
          functools.partial(FastConvTranspose, patches=patches))
