"""MLP generator and discriminator for low-dimensional data such as the 2-D mixtures."""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import common


class MLPGenerator(nn.Module):
  """G(z, c): [Dense(width) -> ReLU] x depth -> Dense(prod(out_shape)), reshaped."""

  out_shape: tuple
  width: int = 128
  depth: int = 3
  num_classes: int = 0
  embed_dim: int = 16
  axis_name: str | None = None  # unused: the MLP has no BatchNorm

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    h = common.concat_label_embedding(z, labels, self.num_classes, self.embed_dim)
    for _ in range(self.depth or 3):
      h = nn.relu(nn.Dense(self.width or 128)(h))
    out = nn.Dense(math.prod(self.out_shape))(h)
    if len(self.out_shape) == 3:  # images live in [-1, 1]
      out = jnp.tanh(out)
    return out.reshape((z.shape[0],) + tuple(self.out_shape))


class MLPDiscriminator(common.ConditionalDiscriminator):
  """D(x, c): [Dense(width) -> LeakyReLU(0.2)] x depth -> Dense(1), with projection, concat or AC
  conditioning."""

  width: int = 128
  depth: int = 3
  embed_dim: int = 16

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    h = x.reshape((x.shape[0], -1))
    if self.num_classes and self.conditioning == "concat":
      h = common.concat_label_channels(h, labels, self.num_classes)
    for _ in range(self.depth or 3):
      h = common.maybe_spectral_norm(
          nn.Dense(self.width or 128), h, enabled=self.spectral_norm, train=train)
      h = nn.leaky_relu(h, 0.2)
    return common.output_head(h, labels, num_classes=self.num_classes,
                              conditioning=self.conditioning, spectral_norm=self.spectral_norm,
                              train=train)
