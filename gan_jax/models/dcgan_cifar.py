"""The "standard CNN" of Miyato et al. 2018 as PyTorch-StudioGAN builds it (``deep_conv.py``).

With w = width (64; StudioGAN's fixed channels), C image channels and z of size d:
  G: Dense(16·8w, bias) -> 4x4x8w -> [ConvT 4x4 s2 (bias) -> BN -> ReLU] for 4w, 2w, w
     -> Conv 3x3 (C, bias) -> tanh
  D: [Conv 3x3 s1 -> N -> act, Conv 4x4 s2 p1 -> N -> act] for w, 2w, 4w
     -> Conv 3x3 (8w) -> N -> act -> Σ_{h,w} -> Dense(1) (+ projection)
Every conv and linear has a bias (as in StudioGAN, also before BN). N is D's normalisation
(``model.d_norm``: BatchNorm without spectral norm, as StudioGAN, or the per-example LayerNorm);
act is ReLU (StudioGAN's default; Miyato et al. use LeakyReLU 0.1). A conditional G replaces
each BN by the conditional BN of the one-hot label. Weights are initialised orthogonally.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import common
from gan_jax.ops import conv as conv_ops

DEFAULT_WIDTH = 64


class DCGANCifarGenerator(nn.Module):
  """z -> Dense -> 4x4x8w -> [ConvT(4x4, s2) -> (c)BN -> ReLU] x 3 -> Conv(3x3) -> tanh."""

  out_shape: tuple
  width: int = 0
  depth: int = 0  # unused
  num_classes: int = 0
  embed_dim: int = 128  # unused: the conditional BN reads the one-hot label
  axis_name: str | None = None
  conv_impl: str = "fast"
  spectral_norm: bool = False
  bn_momentum: float = common.BN_MOMENTUM  # 0: the running statistics are the batch's

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    w = self.width or DEFAULT_WIDTH
    conv, conv_t = conv_ops.layer_classes(self.conv_impl)
    sn = lambda layer, x: common.maybe_spectral_norm(  # noqa: E731
        layer, x, enabled=self.spectral_norm, train=train)
    cond = jax.nn.one_hot(labels, self.num_classes) if self.num_classes else None
    h = sn(nn.Dense(4 * 4 * 8 * w, kernel_init=common.ORTHOGONAL, name="linear0"), z)
    h = h.reshape((z.shape[0], 4, 4, 8 * w))
    for i, c in enumerate((4 * w, 2 * w, w)):
      h = sn(conv_t(c, (4, 4), strides=(2, 2), padding="SAME", kernel_init=common.ORTHOGONAL,
                    name=f"deconv{i}"), h)
      cbn = common.ConditionalBatchNorm(self.spectral_norm, self.axis_name, self.bn_momentum,
                                        name=f"bn{i}")
      h = nn.relu(cbn(h, cond, train=train))
    h = sn(conv(self.out_shape[-1], (3, 3), padding=((1, 1), (1, 1)),
                kernel_init=common.ORTHOGONAL, name="conv_out"), h)
    return jnp.tanh(h)


class DCGANCifarDiscriminator(common.StudioGANDiscriminator):
  """x -> [Conv(3x3) -> N -> act -> Conv(4x4, s2) -> N -> act] x 3 -> Conv(3x3) -> N -> act
  -> global sum -> Dense(1), with projection or concat conditioning."""

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    w = self.width or DEFAULT_WIDTH
    conv, _ = conv_ops.layer_classes(self.conv_impl)
    h = x
    if self.num_classes and self.conditioning == "concat":
      h = common.concat_label_channels(h, labels, self.num_classes)

    def layer(h, c, kernel, stride, name):
      layer = conv(c, (kernel, kernel), strides=(stride, stride), padding=((1, 1), (1, 1)),
                   kernel_init=common.ORTHOGONAL, name=name)
      h = common.maybe_spectral_norm(layer, h, enabled=self.spectral_norm, train=train)
      h = common.d_normalization(
          self.norm, train=train, axis_name=self.axis_name, name=f"{name}_norm")(h)
      return nn.relu(h)

    for i, c in enumerate((w, 2 * w, 4 * w)):
      h = layer(h, c, 3, 1, f"block{i}_conv0")
      h = layer(h, c, 4, 2, f"block{i}_conv1")
    h = layer(h, 8 * w, 3, 1, "conv_out")
    h = jnp.sum(h, axis=(1, 2))
    return common.output_head(
        h, labels, num_classes=self.num_classes, conditioning=self.conditioning,
        spectral_norm=self.spectral_norm, train=train,
        dense=nn.Dense(1, kernel_init=common.ORTHOGONAL, name="linear1"),
        embedding_init=common.ORTHOGONAL)
