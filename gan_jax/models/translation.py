"""Image-to-image networks: Pix2Pix's U-Net and CycleGAN's ResNet generators, and the PatchGAN
discriminator, after junyanz/pytorch-CycleGAN-and-pix2pix (``models/networks.py``) and scaled
down for 28x28 digits.

Common to all (as ``init_weights(init_type='normal', gain=0.02)`` there): every convolution
kernel ~ N(0, 0.02) with zero bias, every BatchNorm scale ~ N(1, 0.02) with zero bias; a
convolution followed by BatchNorm has no bias (BN removes it); one followed by InstanceNorm
has one there, but not here: the norm subtracts any per-channel constant, so that bias gets a
zero gradient whose rounding noise Adam would scale up to lr-sized random steps (which also
made 2 devices differ from 1); LeakyReLU slopes are 0.2; generators end in tanh.

Inputs smaller than the output (``mnist_sr``'s 7x7) are first up-sampled to the output's size
by nearest-neighbour replication (``upsample_to``): each input pixel, the mean of a 4x4 block of
the target, is copied back over its block, the least-squares pre-image of the block average.
The generators and the conditional discriminator see that 28x28 picture.

U-Net (``UNetGenerator``, pix2pix's ``unet_256`` at depth ``len(channels)``). The 28x28 input is
reflect-padded to 32x32 (the next multiple of 2^depth) and cropped back at the end. With
channels (c1, c2, c3, c4) and depth 4, the encoder halves the size with Conv(4x4, s2, p1):
  32 -> 16 (c1, no norm) -> 8 (c2, BN) -> 4 (c3, BN) -> 2 (c4, innermost, no norm),
each block after the first preceded by LeakyReLU(0.2); the decoder mirrors it with
ReLU -> ConvT(4x4, s2) -> BN and concatenates the encoder's feature map of the same size (the
skip connections), ending in ReLU -> ConvT(C) -> tanh at 32x32. Dropout(0.5), the net's only
noise, follows the BN of the decoder's ``dropout_blocks`` middle blocks nearest the innermost
(pix2pix puts it in its 512-channel middle blocks). Masks are drawn per example from a key per
example (``example_keys``), so a data-parallel step draws the same masks as one device.

PatchGAN (``PatchDiscriminator``, pix2pix's ``NLayerDiscriminator`` with ``n_layers``):
  Conv(ndf, 4x4, s2) -> LReLU, [Conv(ndf·2^n, 4x4, s2) -> norm -> LReLU] for n = 1..n_layers-1,
  Conv(ndf·2^n_layers, 4x4, s1) -> norm -> LReLU, Conv(1, 4x4, s1)
(all with padding 1; widths capped at 8·ndf). Its receptive field, from the output back,
r ← r·s + (k - s) per layer starting at r = 1:
  n_layers = 1: 1 -> 4 -> 7 -> 16: 16x16 patches (a 28x28 input gives a 12x12 map of them),
  n_layers = 2: 16 -> 34 (larger than the whole digit), n_layers = 3: 70 (pix2pix's default).
For 28-32 px digits we take n_layers = 1: a 16x16 patch spans about a stroke's junctions, half
the digit, so D judges local stroke shape and sharpness while the L1 (Pix2Pix) or the cycle
(CycleGAN) term fixes the global content. Conditional (Pix2Pix): D sees the channel concatenation
(input, output), the input up-sampled as above.

ResNet generator (``ResNetGenerator``, CycleGAN's ``resnet_6blocks`` scaled down):
  ReflectPad(3) Conv(ngf, 7x7) -> IN -> ReLU, 2 x [Conv(4·ngf·.., 3x3, s2, p1) -> IN -> ReLU]
  (28 -> 14 -> 7), ``num_blocks`` residual blocks x + [ReflectPad(1) Conv(3x3) IN ReLU
  ReflectPad(1) Conv(3x3) IN] at 4·ngf, 2 x [ConvT(3x3, s2) -> IN -> ReLU] (7 -> 14 -> 28),
  ReflectPad(3) Conv(C, 7x7) -> tanh.
IN is InstanceNorm without affine parameters (InstanceNorm2d's default there). CycleGAN uses
ngf = 64 and 6 blocks (9 at 256 px); the digit configs scale ngf and the block count down
(``translation.ngf``, ``translation.resnet_blocks``).

Spatial transformer (``spatial_transformer=True``, either generator; Jaderberg et al. 2015): the
input is first resampled, x ← warp(x, θ(x)), by an affine map θ(x) = I + Δ(x) that a small
localisation net predicts from the input (``AffineLocaliser``; its last layer starts at zero, so
the warp starts as the identity). Convolutions move content only locally; a global change of
framing (scikit-learn's digits fill their frame, MNIST's sit in a 20x20 box) is one affine map.

Pix2Pix's normalisation is BatchNorm (the paper, and ``--norm batch`` there); here it runs in
training mode (batch statistics, averaged over the device axis) in training and with its running
statistics at inference, with dropout off: a translation of an image then does not depend on its
batch-mates or on a draw (the original translates one image at a time with batch statistics and
dropout on, which at batch 1 is instance normalisation; see ``games.pix2pix``).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.ops import conv as conv_ops

INIT_STD = 0.02
KERNEL_INIT = nn.initializers.normal(INIT_STD)
NORMS = ("batch", "instance", "none")
BN_MOMENTUM = 0.9  # flax's convention for torch's momentum 0.1
NORM_EPSILON = 1e-5  # torch's BatchNorm2d and InstanceNorm2d
DROPOUT_RATE = 0.5


def _bn_scale_init(key, shape, dtype=jnp.float32):
  """N(1, 0.02), junyanz's init of BatchNorm weights."""
  return 1.0 + INIT_STD * jax.random.normal(key, shape, dtype)


def norm_layer(kind: str, *, train: bool, axis_name: str | None, name: str | None = None):
  """x -> BN(x) (batch statistics in training, over ``axis_name``) | IN(x) (no affine) | x."""
  if kind == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                        epsilon=NORM_EPSILON, axis_name=axis_name if train else None,
                        scale_init=_bn_scale_init, name=name)
  if kind == "instance":
    return nn.InstanceNorm(epsilon=NORM_EPSILON, use_scale=False, use_bias=False, name=name)
  if kind == "none":
    return lambda x: x
  raise ValueError(f"norm {kind!r} is unknown; valid: {', '.join(NORMS)}")


def upsample_to(x, size: int):
  """Nearest-neighbour up-sampling of (N, h, w, C) to (N, size, size, C) (size a multiple of h);
  the identity when h == size."""
  factor = size // x.shape[1]
  if factor * x.shape[1] != size or x.shape[1] != x.shape[2]:
    raise ValueError(f"cannot up-sample a {x.shape[1]}x{x.shape[2]} input to {size}x{size}")
  if factor == 1:
    return x
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def receptive_field(n_layers: int) -> int:
  """The PatchGAN's receptive field: r ← r·s + (k - s) over its layers, output to input."""
  r = 1
  for k, s in [(4, 1), (4, 1)] + [(4, 2)] * n_layers:
    r = r * s + (k - s)
  return r


def affine_warp(x, theta, fill: float = -1.0):
  """(N, H, W, C) x resampled bilinearly at the source points θ·(p, 1), θ (N, 2, 3), for the
  output pixel centres p in [-1, 1]² (torch's ``affine_grid`` + ``grid_sample`` with
  align_corners=False); source points outside the image read ``fill`` (the background, -1)."""
  _, h, w, _ = x.shape
  py, px = jnp.meshgrid((2 * jnp.arange(h) + 1) / h - 1, (2 * jnp.arange(w) + 1) / w - 1,
                        indexing="ij")
  grid = jnp.stack([px, py, jnp.ones_like(px)], axis=-1)  # (H, W, 3)
  src = jnp.einsum("hwk,nik->nhwi", grid, theta)  # (N, H, W, 2): (x, y) in [-1, 1]
  # Pixel coordinates in the image padded by one pixel of ``fill``, clipped onto that pad.
  sx = jnp.clip(((src[..., 0] + 1) * w - 1) / 2 + 1, 0, w + 1)
  sy = jnp.clip(((src[..., 1] + 1) * h - 1) / 2 + 1, 0, h + 1)
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=fill)
  x0 = jnp.clip(jnp.floor(sx), 0, w).astype(jnp.int32)
  y0 = jnp.clip(jnp.floor(sy), 0, h).astype(jnp.int32)
  fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
  read = jax.vmap(lambda img, yy, xx: img[yy, xx])
  top = (1 - fx) * read(padded, y0, x0) + fx * read(padded, y0, x0 + 1)
  bottom = (1 - fx) * read(padded, y0 + 1, x0) + fx * read(padded, y0 + 1, x0 + 1)
  return (1 - fy) * top + fy * bottom


class AffineLocaliser(nn.Module):
  """θ(x) = I + g·Δ(x), (N, 2, 3): Δ = Conv(f, 3x3, s2) ReLU Conv(2f, 3x3, s2) ReLU Dense(32) ReLU
  Dense(6), the last layer initialised to zero. Adam moves each weight by about its learning rate
  per step whatever the gradient's scale, so the gain g lets θ move g times as far: unscaled, at
  2e-4 over 1500 steps, θ could move by at most ~0.2, and MNIST's framing asks for a scale of
  ~1.4."""

  features: int = 8
  gain: float = 10.0

  @nn.compact
  def __call__(self, x):
    h = x
    for i in range(2):
      h = nn.relu(nn.Conv(self.features * 2 ** i, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
                          name=f"conv_{i}")(h))
    h = nn.relu(nn.Dense(32, name="fc")(h.reshape(h.shape[0], -1)))
    delta = nn.Dense(6, kernel_init=nn.initializers.zeros, name="theta")(h)
    return jnp.eye(2, 3) + self.gain * delta.reshape(-1, 2, 3)


INK = -0.5  # A pixel above this (images in [-1, 1]) is ink, for the framing below.


def ink_frame(x, ink: float = INK):
  """(N, 3) per image of (N, H, W, C): the long side of the ink's bounding box and the centre of
  mass of x + 1 over the ink pixels (y, x), in pixels (centres at 0 .. H-1); an image without
  ink gets (0, the frame's centre)."""
  _, h, w, _ = x.shape
  mask = jnp.max(x, axis=-1) > ink
  rows, cols = jnp.any(mask, axis=2), jnp.any(mask, axis=1)

  def extent(hit, n):
    first, last = jnp.argmax(hit, axis=1), n - 1 - jnp.argmax(hit[:, ::-1], axis=1)
    return jnp.where(jnp.any(hit, axis=1), last - first + 1, 0)

  long_side = jnp.maximum(extent(rows, h), extent(cols, w)).astype(jnp.float32)
  mass = jnp.where(mask, jnp.mean(x, axis=-1) + 1.0, 0.0)
  total = jnp.sum(mass, axis=(1, 2))
  safe = jnp.where(total > 0, total, 1.0)
  cy = jnp.where(total > 0, jnp.sum(mass * jnp.arange(h)[:, None], axis=(1, 2)) / safe,
                 (h - 1) / 2)
  cx = jnp.where(total > 0, jnp.sum(mass * jnp.arange(w)[None, :], axis=(1, 2)) / safe,
                 (w - 1) / 2)
  return jnp.stack([long_side, cy, cx], axis=-1)


def reframe_theta(x, target, ink: float = INK):
  """θ (N, 2, 3) for ``affine_warp`` that frames each image as ``target`` = (long side, centre
  y, centre x) in pixels: its ink's long side scaled by s = target / its own and its centre of
  mass moved to the target's, p_in = c + (p_out - c_target)/s (MNIST's own normalisation, with
  the target's numbers; ``ink_frame``). Nothing is learnt and no gradient flows into θ; an
  image without ink keeps the identity."""
  _, h, w, _ = x.shape
  frame = jax.lax.stop_gradient(ink_frame(x, ink))
  long_side, cy, cx = frame[:, 0], frame[:, 1], frame[:, 2]
  inv_s = jnp.where(long_side > 0, long_side / target[0], 1.0)
  cy, cx = jnp.where(long_side > 0, cy, target[1]), jnp.where(long_side > 0, cx, target[2])
  norm = lambda p, n: (2 * p + 1) / n - 1  # noqa: E731  pixel centre -> [-1, 1]
  zero = jnp.zeros_like(inv_s)
  return jnp.stack([
      jnp.stack([inv_s, zero, norm(cx, w) - inv_s * norm(target[2], w)], -1),
      jnp.stack([zero, inv_s, norm(cy, h) - inv_s * norm(target[1], h)], -1)], axis=1)


def generator_input(x, size: int, spatial_transformer: bool, reframe_to=None):
  """x up-sampled to size x size; with ``reframe_to`` (the target domain's (long side, centre
  y, centre x) of its ink, ``ink_frame``), then reframed by ``reframe_theta``; with a spatial
  transformer, then warped by its θ(x) (a submodule ``localiser`` of the calling generator).
  ``spatial_transformer`` False on a generator that has one skips its warp (the identity term's
  option ``identity_skips_warp``)."""
  h = upsample_to(x, size)
  if reframe_to is not None:
    h = affine_warp(h, reframe_theta(h, jnp.asarray(reframe_to, jnp.float32)))
  return affine_warp(h, AffineLocaliser(name="localiser")(h)) if spatial_transformer else h


def _reflect(x, pad: int):
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def _dropout(x, example_keys, layer: int):
  """Dropout(0.5) with one mask per example from ``fold_in(example_key, layer)``."""
  keep = 1.0 - DROPOUT_RATE
  masks = jax.vmap(lambda k: jax.random.bernoulli(jax.random.fold_in(k, layer), keep,
                                                  x.shape[1:]))(example_keys)
  return jnp.where(masks, x / keep, 0.0)


class UNetGenerator(nn.Module):
  """Pix2Pix's U-Net (module docstring): G(x) for x of any size that up-samples to out_shape."""

  out_shape: tuple
  channels: tuple = (32, 64, 128, 128)
  dropout_blocks: int = 1
  norm: str = "batch"
  axis_name: str | None = None
  conv_impl: str = "fast"
  spatial_transformer: bool = False
  reframe_to: tuple | None = None  # (long side, centre y, centre x): ``generator_input``

  @nn.compact
  def __call__(self, x, *, train: bool = True, example_keys=None, warp: bool = True):
    """``example_keys`` (N,) keys: dropout masks in training; None: no dropout. ``warp`` False
    skips the spatial transformer's warp."""
    conv, conv_t = conv_ops.layer_classes(self.conv_impl)
    size = self.out_shape[0]
    depth = len(self.channels)
    padded = -(-size // 2 ** depth) * 2 ** depth
    lo = (padded - size) // 2
    h = generator_input(x, size, self.spatial_transformer and warp, self.reframe_to)
    if padded != size:
      h = jnp.pad(h, ((0, 0), (lo, padded - size - lo), (lo, padded - size - lo), (0, 0)),
                  mode="reflect")
    norm = lambda name: norm_layer(self.norm, train=train, axis_name=self.axis_name,  # noqa: E731
                                   name=name)
    bias = self.norm == "none"
    down = lambda c, i: conv(c, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),  # noqa: E731
                             use_bias=bias, kernel_init=KERNEL_INIT, name=f"down_{i}")
    skips = []
    for i, c in enumerate(self.channels):
      h = down(c, i)(h if i == 0 else nn.leaky_relu(h, 0.2))
      if 0 < i < depth - 1:
        h = norm(f"down_norm_{i}")(h)
      skips.append(h)
    for i in reversed(range(1, depth)):  # block i's up path: to block i-1's channels
      h = conv_t(self.channels[i - 1], (4, 4), strides=(2, 2), padding="SAME", use_bias=bias,
                 kernel_init=KERNEL_INIT, name=f"up_{i}")(nn.relu(h))
      h = norm(f"up_norm_{i}")(h)
      if train and example_keys is not None and depth - 1 - self.dropout_blocks <= i < depth - 1:
        h = _dropout(h, example_keys, i)
      h = jnp.concatenate([skips[i - 1], h], axis=-1)
    h = conv_t(self.out_shape[-1], (4, 4), strides=(2, 2), padding="SAME",
               kernel_init=KERNEL_INIT, name="up_0")(nn.relu(h))
    return jnp.tanh(h[:, lo:lo + size, lo:lo + size])


class ResNetGenerator(nn.Module):
  """CycleGAN's ResNet generator (module docstring), for 28x28 (any multiple of 4) images."""

  out_shape: tuple
  ngf: int = 16
  num_blocks: int = 3
  norm: str = "instance"
  axis_name: str | None = None
  conv_impl: str = "fast"
  spatial_transformer: bool = False
  reframe_to: tuple | None = None  # (long side, centre y, centre x): ``generator_input``

  @nn.compact
  def __call__(self, x, *, train: bool = True, example_keys=None, warp: bool = True):
    del example_keys  # no dropout (CycleGAN's default, --no_dropout)
    conv, conv_t = conv_ops.layer_classes(self.conv_impl)
    norm = lambda name: norm_layer(self.norm, train=train, axis_name=self.axis_name,  # noqa: E731
                                   name=name)
    bias = self.norm == "none"
    c = dict(kernel_init=KERNEL_INIT, use_bias=bias)
    h = generator_input(x, self.out_shape[0], self.spatial_transformer and warp, self.reframe_to)
    h = nn.relu(norm("in_norm")(conv(self.ngf, (7, 7), padding="VALID", name="in_conv", **c)(
        _reflect(h, 3))))
    for i in range(2):
      h = conv(self.ngf * 2 ** (i + 1), (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
               name=f"down_{i}", **c)(h)
      h = nn.relu(norm(f"down_norm_{i}")(h))
    width = self.ngf * 4
    for b in range(self.num_blocks):
      r = conv(width, (3, 3), padding="VALID", name=f"block_{b}_conv_0", **c)(_reflect(h, 1))
      r = nn.relu(norm(f"block_{b}_norm_0")(r))
      r = conv(width, (3, 3), padding="VALID", name=f"block_{b}_conv_1", **c)(_reflect(r, 1))
      h = h + norm(f"block_{b}_norm_1")(r)
    for i in range(2):
      h = conv_t(self.ngf * 2 ** (1 - i), (3, 3), strides=(2, 2), padding="SAME",
                 name=f"up_{i}", **c)(h)
      h = nn.relu(norm(f"up_norm_{i}")(h))
    h = conv(self.out_shape[-1], (7, 7), padding="VALID", kernel_init=KERNEL_INIT,
             name="out_conv")(_reflect(h, 3))
    return jnp.tanh(h)


class PatchDiscriminator(nn.Module):
  """PatchGAN (module docstring): D(y) or, given ``condition``, D(concat(condition, y)); returns
  the (N, h, w) map of per-patch raw outputs."""

  ndf: int = 32
  n_layers: int = 1
  norm: str = "batch"
  axis_name: str | None = None
  conv_impl: str = "fast"

  @nn.compact
  def __call__(self, y, condition=None, *, train: bool = True):
    conv, _ = conv_ops.layer_classes(self.conv_impl)
    h = y
    if condition is not None:
      h = jnp.concatenate([upsample_to(condition, y.shape[1]), y], axis=-1)
    bias = self.norm == "none"
    pad = ((1, 1), (1, 1))
    h = nn.leaky_relu(conv(self.ndf, (4, 4), strides=(2, 2), padding=pad,
                           kernel_init=KERNEL_INIT, name="conv_0")(h), 0.2)
    for n in range(1, self.n_layers + 1):
      stride = 2 if n < self.n_layers else 1
      h = conv(self.ndf * min(2 ** n, 8), (4, 4), strides=(stride, stride), padding=pad,
               use_bias=bias, kernel_init=KERNEL_INIT, name=f"conv_{n}")(h)
      h = norm_layer(self.norm, train=train, axis_name=self.axis_name, name=f"norm_{n}")(h)
      h = nn.leaky_relu(h, 0.2)
    h = conv(1, (4, 4), padding=pad, kernel_init=KERNEL_INIT, name="out")(h)
    return h[..., 0]
