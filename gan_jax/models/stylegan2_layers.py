"""StyleGAN2's layers (Karras et al. 2020), as stylegan2-ada-pytorch's training/networks.py, in
NHWC/HWIO. Parameter names follow the reference ('weight', 'bias', 'affine', 'noise_strength',
...) so that counts compare name for name.

Equalised learning rate: every weight is stored ~ N(0, 1) (÷ lr_multiplier) and scaled at run
time by its He constant, w = ŵ · lr_multiplier / sqrt(fan_in) (bias b = b̂ · lr_multiplier), so
Adam's scale-invariant steps move every layer at the same relative rate.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.ops import upfirdn2d

LRELU_SLOPE = 0.2
LRELU_GAIN = float(np.sqrt(2.0))  # bias_act's def_gain of 'lrelu'


def bias_act(x, b, *, act: str = "linear", gain: float = 1.0, clamp: float | None = None):
  """bias_act's reference: x + b, then lrelu(·, 0.2)·√2 (or linear), ·gain, clamped to ±clamp."""
  if b is not None:
    x = x + b
  if act == "lrelu":
    x = jax.nn.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN
  elif act != "linear":
    raise ValueError(f"activation {act!r} is unknown; valid: linear, lrelu")
  if gain != 1.0:
    x = x * gain
  if clamp is not None:
    x = jnp.clip(x, -clamp, clamp)
  return x


def normalize_2nd_moment(x, eps: float = 1e-8):
  """x / sqrt(mean(x², last axis) + eps): the latent (and label embedding) normalisation."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def _normal(scale: float = 1.0):
  return lambda key, shape: jax.random.normal(key, shape) * scale


class FullyConnected(nn.Module):
  """y = act(x (ŵ·lr_mul/√in) + b̂·lr_mul); ŵ ~ N(0, 1/lr_mul²), b̂ = bias_init."""

  features: int
  activation: str = "linear"
  lr_multiplier: float = 1.0
  bias_init: float = 0.0
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    weight = self.param("weight", _normal(1.0 / self.lr_multiplier), (fan_in, self.features))
    x = x @ (weight * (self.lr_multiplier / np.sqrt(fan_in)))
    b = None
    if self.use_bias:
      b = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
      b = b * self.lr_multiplier
    return bias_act(x, b, act=self.activation)


class Conv2dLayer(nn.Module):
  """Conv2dLayer: conv(x, ŵ/√(in·k²)) with FIR up/down, then bias_act(gain, clamp)."""

  features: int
  kernel_size: int
  use_bias: bool = True
  activation: str = "linear"
  up: int = 1
  down: int = 1
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, gain: float = 1.0):
    k, fan_in = self.kernel_size, x.shape[-1]
    weight = self.param("weight", _normal(), (k, k, fan_in, self.features))
    w = weight * (1.0 / np.sqrt(fan_in * k * k))
    f = upfirdn2d.setup_filter() if self.up > 1 or self.down > 1 else None
    x = upfirdn2d.conv2d_resample(x, w, f, up=self.up, down=self.down, padding=k // 2)
    b = self.param("bias", nn.initializers.zeros, (self.features,)) if self.use_bias else None
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return bias_act(x, b, act=self.activation, gain=gain, clamp=clamp)


def modulated_conv2d(x, weight, styles, *, up: int = 1, padding: int = 0, demodulate=True):
  """StyleGAN2's modulated convolution, non-fused form (the reference's training path):

    y[n, o] = d[n, o] · conv(x[n] · s[n], W)[o],
    d[n, o] = (Σ_{i,k} (W[k, i, o] s[n, i])² + 1e-8)^(-1/2)

  i.e. conv with the per-example weight W'[n] = W · s[n] (scaled per input channel), each output
  filter demodulated to unit norm: for unit-variance i.i.d. inputs the outputs have unit
  variance. x: (N, H, W, I); weight: (k, k, I, O); styles: (N, I).
  """
  f = upfirdn2d.setup_filter() if up > 1 else None
  y = upfirdn2d.conv2d_resample(x * styles[:, None, None, :], weight, f, up=up, padding=padding)
  if demodulate:
    wsq = jnp.sum(jnp.square(weight), axis=(0, 1))  # (I, O)
    dcoefs = jax.lax.rsqrt(jnp.square(styles) @ wsq + 1e-8)  # (N, O)
    y = y * dcoefs[:, None, None, :]
  return y


class SynthesisLayer(nn.Module):
  """Modulated 3x3 conv (styles = affine(w), bias 1 at init), optional 2x FIR upsampling, noise
  ·noise_strength (learned, 0 at init) added after demodulation, then bias, lrelu·√2, clamp."""

  features: int
  resolution: int
  up: int = 1
  use_noise: bool = True
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, w, noise=None, gain: float = 1.0):
    """``noise``: (N, R, R, 1) N(0, 1) maps, or None for none."""
    in_ch = x.shape[-1]
    styles = FullyConnected(in_ch, bias_init=1.0, name="affine")(w)
    weight = self.param("weight", _normal(), (3, 3, in_ch, self.features))
    x = modulated_conv2d(x, weight, styles, up=self.up, padding=1)
    if self.use_noise:
      strength = self.param("noise_strength", nn.initializers.zeros, ())
      if noise is not None:
        x = x + noise * strength
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return bias_act(x, bias, act="lrelu", gain=gain, clamp=clamp)


class ToRGBLayer(nn.Module):
  """1x1 modulated conv without demodulation, styles = affine(w)/√in, plus bias, clamp."""

  features: int
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, w):
    in_ch = x.shape[-1]
    styles = FullyConnected(in_ch, bias_init=1.0, name="affine")(w) / np.sqrt(in_ch)
    weight = self.param("weight", _normal(), (1, 1, in_ch, self.features))
    x = modulated_conv2d(x, weight, styles, demodulate=False)
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return bias_act(x, bias, clamp=self.conv_clamp)


def minibatch_stddev(x, group_size: int, num_channels: int = 1):
  """MinibatchStdLayer: groups of G = min(group_size, N) examples (example i in group i mod N/G),
  the std over the group of each feature (√(var + 1e-8)), averaged over pixels and C/F channels,
  appended as F constant channels."""
  n, h, w, c = x.shape
  g = min(group_size, n) if group_size else n
  if n % g:
    raise ValueError(f"minibatch-stddev group size {g} does not divide the batch {n}")
  f = num_channels
  y = x.reshape(g, -1, h, w, f, c // f)
  y = y - jnp.mean(y, axis=0)
  y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)  # (n/G, H, W, F, c)
  y = jnp.mean(y, axis=(1, 2, 4))  # (n/G, F)
  y = jnp.tile(y, (g, 1))[:, None, None, :]
  return jnp.concatenate([x, jnp.broadcast_to(y, (n, h, w, f))], axis=-1)
