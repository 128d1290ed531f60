"""The SNGAN / WGAN-GP CIFAR ResNet as PyTorch-StudioGAN builds it (``resnet.py``, 32x32).

With w = width (StudioGAN's g_conv_dim = d_conv_dim, 64), G has 4w channels, D 2w:
  G: Dense(16·4w, bias) -> 4x4x4w -> 3 x GBlock(4w) -> BN -> ReLU -> Conv 3x3 (C) -> tanh
     GBlock: (c)BN -> ReLU -> up x2 -> Conv 3x3 -> (c)BN -> ReLU -> Conv 3x3,
             plus the shortcut up x2 -> Conv 1x1
  D: OptBlock(2w) -> DBlock(2w, down) -> DBlock(2w) -> DBlock(2w) -> ReLU -> Σ_{h,w} -> Dense(1)
     OptBlock: Conv 3x3 -> N -> ReLU -> Conv 3x3 -> avgpool 2, plus avgpool 2 -> N -> Conv 1x1
     DBlock:   N -> ReLU -> Conv 3x3 -> N -> ReLU -> Conv 3x3 [-> avgpool 2], plus, when it
               downsamples or changes width, N -> Conv 1x1 [-> avgpool 2]; else the identity
Every conv and linear has a bias; up x2 is nearest-neighbour. N is D's normalisation
(``model.d_norm``; StudioGAN: BatchNorm unless D is spectrally normalised). A conditional G
uses conditional BN of the one-hot label, a conditional D the projection head. BigGAN
(``biggan32``) reuses these blocks.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import common
from gan_jax.ops import conv as conv_ops

DEFAULT_WIDTH = 64


def upsample2(x):
  """Nearest-neighbour x2 upsampling of NHWC images."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avgpool2(x):
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class _Convs:
  """Bias-carrying, orthogonally initialised convs, spectrally normalised when ``sn``."""

  def __init__(self, conv_impl: str, sn: bool, train: bool):
    self.conv, self.sn, self.train = conv_ops.layer_classes(conv_impl)[0], sn, train

  def __call__(self, x, features: int, kernel: int, name: str, use_bias: bool = True):
    pad = (kernel - 1) // 2
    layer = self.conv(features, (kernel, kernel), padding=((pad, pad), (pad, pad)),
                      use_bias=use_bias, kernel_init=common.ORTHOGONAL, name=name)
    return common.maybe_spectral_norm(layer, x, enabled=self.sn, train=self.train)


class SelfAttention(nn.Module):
  """SAGAN self-attention as StudioGAN's: y = x + σ·W_o(softmax(θ(x) φ(x)ᵀ) g(x)).

  θ, φ, g, W_o are bias-free 1x1 convs (C/8, C/8, C/2, C); φ and g are max-pooled 2x2, so each
  of the HW positions attends to HW/4; σ starts at 0.
  """

  spectral_norm: bool = False
  conv_impl: str = "fast"

  @nn.compact
  def __call__(self, x, *, train: bool):
    n, h, w, c = x.shape
    convs = _Convs(self.conv_impl, self.spectral_norm, train)
    pool = lambda t: nn.max_pool(t, (2, 2), strides=(2, 2))  # noqa: E731
    theta = convs(x, c // 8, 1, "theta", use_bias=False).reshape(n, h * w, c // 8)
    phi = pool(convs(x, c // 8, 1, "phi", use_bias=False)).reshape(n, h * w // 4, c // 8)
    g = pool(convs(x, c // 2, 1, "g", use_bias=False)).reshape(n, h * w // 4, c // 2)
    attn = jax.nn.softmax(jnp.einsum("npc,nqc->npq", theta, phi), axis=-1)
    out = jnp.einsum("npq,nqc->npc", attn, g).reshape(n, h, w, c // 2)
    out = convs(out, c, 1, "attn", use_bias=False)
    sigma = self.param("sigma", nn.initializers.zeros_init(), (1,))
    return x + sigma * out


class GBlock(nn.Module):
  """(c)BN -> ReLU -> up -> Conv3 -> (c)BN -> ReLU -> Conv3, plus up -> Conv1."""

  features: int
  spectral_norm: bool = False
  axis_name: str | None = None
  conv_impl: str = "fast"
  bn_momentum: float = common.BN_MOMENTUM

  @nn.compact
  def __call__(self, x, cond, *, train: bool):
    convs = _Convs(self.conv_impl, self.spectral_norm, train)
    cbn = lambda name: common.ConditionalBatchNorm(  # noqa: E731
        self.spectral_norm, self.axis_name, self.bn_momentum, name=name)
    h = upsample2(nn.relu(cbn("bn1")(x, cond, train=train)))
    h = convs(h, self.features, 3, "conv1")
    h = nn.relu(cbn("bn2")(h, cond, train=train))
    h = convs(h, self.features, 3, "conv2")
    return h + convs(upsample2(x), self.features, 1, "conv0")


class DBlock(nn.Module):
  """StudioGAN's DiscOptBlock (``first``) or DiscBlock; see the module docstring."""

  features: int
  downsample: bool = True
  first: bool = False
  spectral_norm: bool = False
  norm: str = "batch"
  axis_name: str | None = None
  conv_impl: str = "fast"

  @nn.compact
  def __call__(self, x, *, train: bool):
    convs = _Convs(self.conv_impl, self.spectral_norm, train)
    norm = lambda name: common.d_normalization(  # noqa: E731
        self.norm, train=train, axis_name=self.axis_name, name=name)
    if self.first:
      h = nn.relu(norm("norm1")(convs(x, self.features, 3, "conv1")))
      h = avgpool2(convs(h, self.features, 3, "conv2"))
      return h + convs(norm("norm0")(avgpool2(x)), self.features, 1, "conv0")
    h = convs(nn.relu(norm("norm1")(x)), self.features, 3, "conv1")
    h = convs(nn.relu(norm("norm2")(h)), self.features, 3, "conv2")
    if self.downsample:
      h = avgpool2(h)
    shortcut = x
    if self.downsample or x.shape[-1] != self.features:
      shortcut = convs(norm("norm0")(x), self.features, 1, "conv0")
      if self.downsample:
        shortcut = avgpool2(shortcut)
    return h + shortcut


class ResNet32Generator(nn.Module):
  """z -> Dense -> 4x4 -> 3 GBlocks (x2 each) [-> attention] -> BN -> ReLU -> Conv3 -> tanh.

  ``hierarchical`` (BigGAN): z is split into 4 chunks; the first feeds the Dense, the others
  block i's conditional BN, concatenated after the shared class embedding (size embed_dim).
  ``attention_after``: the 1-based block followed by self-attention (0: none).
  """

  out_shape: tuple
  width: int = 0
  depth: int = 0  # unused
  num_classes: int = 0
  embed_dim: int = 128
  axis_name: str | None = None
  conv_impl: str = "fast"
  spectral_norm: bool = False
  default_width: int = DEFAULT_WIDTH
  hierarchical: bool = False
  attention_after: int = 0
  bn_momentum: float = common.BN_MOMENTUM  # 0: the running statistics are the batch's

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    c = 4 * (self.width or self.default_width)
    num_blocks = 3
    if self.hierarchical:
      chunks = jnp.split(z, num_blocks + 1, axis=-1)
      z, conds = chunks[0], list(chunks[1:])
      if self.num_classes:
        shared = nn.Embed(self.num_classes, self.embed_dim, embedding_init=common.ORTHOGONAL,
                          name="shared")(labels)
        conds = [jnp.concatenate([shared, chunk], axis=-1) for chunk in conds]
    else:
      one_hot = jax.nn.one_hot(labels, self.num_classes) if self.num_classes else None
      conds = [one_hot] * num_blocks
    h = common.maybe_spectral_norm(
        nn.Dense(16 * c, kernel_init=common.ORTHOGONAL, name="linear0"), z,
        enabled=self.spectral_norm, train=train)
    h = h.reshape((z.shape[0], 4, 4, c))
    for i, cond in enumerate(conds):
      h = GBlock(c, self.spectral_norm, self.axis_name, self.conv_impl, self.bn_momentum,
                 name=f"block{i}")(h, cond, train=train)
      if self.attention_after == i + 1:
        h = SelfAttention(self.spectral_norm, self.conv_impl, name="attention")(h, train=train)
    h = nn.relu(common.batch_norm(train=train, axis_name=self.axis_name,
                                  momentum=self.bn_momentum, name="bn4")(h))
    h = _Convs(self.conv_impl, self.spectral_norm, train)(h, self.out_shape[-1], 3, "conv_out")
    return jnp.tanh(h)


class ResNet32Discriminator(common.StudioGANDiscriminator):
  """OptBlock(down) [-> attention] -> DBlock(down) -> DBlock -> DBlock -> ReLU -> global sum
  -> Dense(1), with projection or concat conditioning. ``attention_after``: 1-based block."""

  default_width: int = DEFAULT_WIDTH
  attention_after: int = 0

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    c = 2 * (self.width or self.default_width)
    h = x
    if self.num_classes and self.conditioning == "concat":
      h = common.concat_label_channels(h, labels, self.num_classes)
    for i, down in enumerate((True, True, False, False)):
      h = DBlock(c, down, i == 0, self.spectral_norm, self.norm, self.axis_name, self.conv_impl,
                 name=f"block{i}")(h, train=train)
      if self.attention_after == i + 1:
        h = SelfAttention(self.spectral_norm, self.conv_impl, name="attention")(h, train=train)
    h = jnp.sum(nn.relu(h), axis=(1, 2))
    return common.output_head(
        h, labels, num_classes=self.num_classes, conditioning=self.conditioning,
        spectral_norm=self.spectral_norm, train=train,
        dense=nn.Dense(1, kernel_init=common.ORTHOGONAL, name="linear1"),
        embedding_init=common.ORTHOGONAL)
