"""StyleGAN2's generator and discriminator (Karras et al. 2020) as stylegan2-ada-pytorch's
training/networks.py: same layers, parameter names and counts
(tests/fixtures/stylegan2_params.json).

G(z, c) = synthesis(broadcast(mapping(z, c))):
  mapping    w = MLP_L([z/‖z‖_rms, Embed(c)/‖Embed(c)‖_rms]), lrelu, lr multiplier 0.01;
  synthesis  a learned 4x4 constant, then per resolution 8..R a block of two modulated 3x3 convs
             (the first upsampling 2x with the [1, 3, 3, 1] FIR filter), each with per-pixel noise
             of learned strength; 'skip' architecture: every block's ToRGB output is added to
             the 2x-upsampled image of the blocks before it. Block b's ToRGB uses the w of block
             b+1's first conv (num_ws = Σ convs + 1).
D(x, c): 'resnet' (x + conv-conv-down, both ·√½) or 'orig' blocks from R down to 8, then the
  epilogue at 4x4: minibatch stddev, conv, fc, out; conditional D projects out(x) (cmap_dim wide)
  on cmap = mapping(c) (an 8-layer MLP of the label): D = <out(x), cmap>/√cmap_dim.
Channels at resolution r: min(channel_base / r, channel_max).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax.models import stylegan2_layers as layers
from gan_jax.ops import upfirdn2d

D_ARCHITECTURES = ("resnet", "orig")


def channels(res: int, channel_base: int, channel_max: int) -> int:
  return min(channel_base // res, channel_max)


def num_ws(img_resolution: int) -> int:
  """Ws the skip synthesis network consumes: 1 (4x4) + 2 per block above + 1 (last ToRGB)."""
  return 2 * int(np.log2(img_resolution)) - 2


class MappingNetwork(nn.Module):
  """z (N, z_dim) [, labels (N,)] -> w (N, w_dim)."""

  z_dim: int
  w_dim: int
  num_classes: int = 0
  num_layers: int = 8
  lr_multiplier: float = 0.01

  @nn.compact
  def __call__(self, z, labels=None):
    parts = []
    if self.z_dim:
      parts.append(layers.normalize_2nd_moment(z.astype(jnp.float32)))
    if self.num_classes:
      one_hot = jax.nn.one_hot(labels, self.num_classes)
      parts.append(layers.normalize_2nd_moment(layers.FullyConnected(self.w_dim, name="embed")(
          one_hot)))
    x = jnp.concatenate(parts, axis=-1)
    for idx in range(self.num_layers):
      x = layers.FullyConnected(self.w_dim, activation="lrelu", lr_multiplier=self.lr_multiplier,
                                name=f"fc{idx}")(x)
    return x


class SynthesisBlock(nn.Module):
  """One resolution of the 'skip' synthesis network: (x, img, ws[:, :k]) -> (x, img)."""

  in_channels: int
  out_channels: int
  resolution: int
  img_channels: int
  conv_clamp: float | None = None
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, img, ws, noise_key, noise_devices: int = 1):
    noises = _noises(noise_key, 2, (ws.shape[0], self.resolution, self.resolution, 1),
                     noise_devices, self.axis_name)
    layer = lambda up, name: layers.SynthesisLayer(  # noqa: E731
        self.out_channels, self.resolution, up=up, conv_clamp=self.conv_clamp, name=name)
    if self.in_channels == 0:
      const = self.param("const", lambda k, s: jax.random.normal(k, s),
                         (self.resolution, self.resolution, self.out_channels))
      x = jnp.broadcast_to(const, (ws.shape[0],) + const.shape)
      x = layer(1, "conv1")(x, ws[:, 0], noises[0])
      i = 1
    else:
      x = layer(2, "conv0")(x, ws[:, 0], noises[0])
      x = layer(1, "conv1")(x, ws[:, 1], noises[1])
      i = 2
    if img is not None:
      img = upfirdn2d.upsample2d(img, upfirdn2d.setup_filter())
    y = layers.ToRGBLayer(self.img_channels, conv_clamp=self.conv_clamp, name="torgb")(x, ws[:, i])
    return x, (y if img is None else img + y)


def _noises(key, count: int, shape, num_devices: int, axis_name):
  """``count`` noise maps N(0, 1) of ``shape`` (None without a key), drawn for the global batch
  of ``num_devices`` devices and sliced to this device's part (k devices = 1 device)."""
  if key is None:
    return [None] * count
  out = []
  for i in range(count):
    noise = jax.random.normal(jax.random.fold_in(key, i), (shape[0] * num_devices,) + shape[1:])
    if num_devices > 1:
      noise = lax.dynamic_slice_in_dim(noise, lax.axis_index(axis_name) * shape[0], shape[0])
    out.append(noise)
  return out


class SynthesisNetwork(nn.Module):
  """ws (N, num_ws, w_dim) -> images (N, R, R, C), the 'skip' architecture."""

  img_resolution: int
  img_channels: int
  channel_base: int = 32768
  channel_max: int = 512
  conv_clamp: float | None = None
  axis_name: str | None = None

  @nn.compact
  def __call__(self, ws, noise_key=None, noise_devices: int = 1):
    x = img = None
    w_idx = 0
    log2 = int(np.log2(self.img_resolution))
    for res in [2 ** i for i in range(2, log2 + 1)]:
      in_ch = channels(res // 2, self.channel_base, self.channel_max) if res > 4 else 0
      num_conv = 1 if res == 4 else 2
      block = SynthesisBlock(in_ch, channels(res, self.channel_base, self.channel_max), res,
                             self.img_channels, conv_clamp=self.conv_clamp,
                             axis_name=self.axis_name, name=f"b{res}")
      key = None if noise_key is None else jax.random.fold_in(noise_key, res)
      x, img = block(x, img, ws[:, w_idx:w_idx + num_conv + 1], key, noise_devices)
      w_idx += num_conv
    return img


class StyleGAN2Generator(nn.Module):
  """G = synthesis ∘ broadcast ∘ mapping; ``out_shape`` smaller than the 2^k synthesis (MNIST's
  28x28 in 32x32) is its centre crop."""

  out_shape: tuple
  num_classes: int = 0
  z_dim: int = 512
  w_dim: int = 512
  img_resolution: int = 32
  mapping_layers: int = 8
  mapping_lr_multiplier: float = 0.01
  channel_base: int = 32768
  channel_max: int = 512
  conv_clamp: float | None = None
  axis_name: str | None = None

  def setup(self):
    self.mapping = MappingNetwork(self.z_dim, self.w_dim, self.num_classes,
                                  self.mapping_layers, self.mapping_lr_multiplier)
    self.synthesis = SynthesisNetwork(self.img_resolution, self.out_shape[-1], self.channel_base,
                                      self.channel_max, self.conv_clamp, self.axis_name)

  @property
  def num_ws(self) -> int:
    return num_ws(self.img_resolution)

  def map(self, z, labels=None):
    """w = mapping(z, c), (N, w_dim)."""
    return self.mapping(z, labels)

  def synthesize(self, ws, noise_key=None, noise_devices: int = 1):
    """Images (N, R, R, C) of ws (N, num_ws, w_dim); no noise without a key."""
    return self.synthesis(ws, noise_key, noise_devices)

  def __call__(self, z, labels=None, train: bool = False, truncation_psi: float = 1.0,
               w_avg=None, noise_key=None):
    """G(z, c) cropped to ``out_shape``; truncation w ← w̄ + ψ(w - w̄) with the tracked w̄;
    noise from ``noise_key`` (a fixed key when None, so sampling is a function of z)."""
    w = self.map(z, labels)
    if truncation_psi != 1.0:
      w = w_avg + truncation_psi * (w - w_avg)
    ws = jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, w.shape[-1]))
    key = jax.random.key(0) if noise_key is None else noise_key
    return crop(self.synthesize(ws, key), self.out_shape)


def pad_to(img, resolution: int, value: float = -1.0):
  """(N, H, W, C) images centred in (N, R, R, C), the border filled with ``value`` (-1: black in
  [-1, 1]); the inverse of ``crop``."""
  top, left = (resolution - img.shape[1]) // 2, (resolution - img.shape[2]) // 2
  if top == 0 and left == 0:
    return img
  return jnp.pad(img, [(0, 0), (top, resolution - img.shape[1] - top),
                       (left, resolution - img.shape[2] - left), (0, 0)], constant_values=value)


def crop(img, out_shape):
  """The centre (H, W) crop of (N, R, R, C) images, H, W = out_shape[:2]."""
  h, w = out_shape[:2]
  top, left = (img.shape[1] - h) // 2, (img.shape[2] - w) // 2
  return img[:, top:top + h, left:left + w]


class DiscriminatorBlock(nn.Module):
  in_channels: int
  tmp_channels: int
  out_channels: int
  architecture: str = "resnet"
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, img):
    def conv(ch, k, name, activation="lrelu", clamp=self.conv_clamp, **kw):
      return layers.Conv2dLayer(ch, k, activation=activation, conv_clamp=clamp, name=name, **kw)

    if self.in_channels == 0:
      y = conv(self.tmp_channels, 1, "fromrgb")(img)
      x = y if x is None else x + y
    if self.architecture == "resnet":
      y = conv(self.out_channels, 1, "skip", use_bias=False, down=2, activation="linear",
               clamp=None)(x, gain=np.sqrt(0.5))
      x = conv(self.tmp_channels, 3, "conv0")(x)
      x = conv(self.out_channels, 3, "conv1", down=2)(x, gain=np.sqrt(0.5))
      return y + x
    x = conv(self.tmp_channels, 3, "conv0")(x)
    return conv(self.out_channels, 3, "conv1", down=2)(x)


class DiscriminatorEpilogue(nn.Module):
  cmap_dim: int = 0
  mbstd_group_size: int = 4
  mbstd_num_channels: int = 1
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, cmap):
    ch = x.shape[-1]
    if self.mbstd_num_channels:
      x = layers.minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
    x = layers.Conv2dLayer(ch, 3, activation="lrelu", conv_clamp=self.conv_clamp, name="conv")(x)
    x = layers.FullyConnected(ch, activation="lrelu", name="fc")(x.reshape(x.shape[0], -1))
    x = layers.FullyConnected(self.cmap_dim or 1, name="out")(x)
    if self.cmap_dim:
      x = jnp.sum(x * cmap, axis=-1, keepdims=True) / np.sqrt(self.cmap_dim)
    return x[:, 0]


class StyleGAN2Discriminator(nn.Module):
  """D(x, c) -> (N,) logits."""

  img_resolution: int = 32
  num_classes: int = 0
  architecture: str = "resnet"
  channel_base: int = 32768
  channel_max: int = 512
  conv_clamp: float | None = None
  mbstd_group_size: int = 4
  mbstd_num_channels: int = 1
  mapping_layers: int = 8

  @nn.compact
  def __call__(self, img, labels=None, train: bool = False):
    """D(x, c); x smaller than img_resolution (MNIST's 28) is padded to it (``pad_to``)."""
    img = pad_to(img, self.img_resolution)
    ch = lambda res: channels(res, self.channel_base, self.channel_max)  # noqa: E731
    x = None
    log2 = int(np.log2(self.img_resolution))
    for res in [2 ** i for i in range(log2, 2, -1)]:
      in_ch = ch(res) if res < self.img_resolution else 0
      x = DiscriminatorBlock(in_ch, ch(res), ch(res // 2), self.architecture, self.conv_clamp,
                             name=f"b{res}")(x, img)
    cmap_dim = ch(4) if self.num_classes else 0
    cmap = None
    if self.num_classes:
      cmap = MappingNetwork(0, cmap_dim, self.num_classes, self.mapping_layers,
                            name="mapping")(None, labels)
    return DiscriminatorEpilogue(cmap_dim, self.mbstd_group_size, self.mbstd_num_channels,
                                 self.conv_clamp, name="b4")(x, cmap)


def build(model_config, *, example_shape, num_classes: int = 0, axis_name=None):
  """(G, D) of ``model.*`` for square images of ``example_shape``, synthesised at the smallest
  power of 2 ≥ their size (≥ 8)."""
  from gan_jax.errors import ConfigError

  if len(example_shape) != 3 or example_shape[0] != example_shape[1]:
    raise ConfigError(f"model.name='stylegan2' makes square HxWxC images, not {example_shape}")
  arch = model_config.get("d_architecture", "resnet")
  if arch not in D_ARCHITECTURES:
    raise ConfigError(f"model.d_architecture={arch!r} is unknown; valid: "
                      f"{', '.join(D_ARCHITECTURES)}")
  resolution = max(8, 1 << int(np.ceil(np.log2(example_shape[0]))))
  clamp = model_config.get("conv_clamp", 0.0) or None
  base, cmax = model_config.get("channel_base", 32768), model_config.get("channel_max", 512)
  generator = StyleGAN2Generator(
      out_shape=tuple(example_shape), num_classes=num_classes, z_dim=model_config.z_dim,
      w_dim=model_config.get("w_dim", 512), img_resolution=resolution,
      mapping_layers=model_config.get("mapping_layers", 8),
      mapping_lr_multiplier=model_config.get("mapping_lr_multiplier", 0.01),
      channel_base=base, channel_max=cmax, conv_clamp=clamp, axis_name=axis_name)
  discriminator = StyleGAN2Discriminator(
      img_resolution=resolution, num_classes=num_classes, architecture=arch,
      channel_base=base, channel_max=cmax, conv_clamp=clamp,
      mbstd_group_size=model_config.get("mbstd_group_size", 4))
  return generator, discriminator
