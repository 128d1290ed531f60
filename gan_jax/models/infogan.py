"""compare_gan's InfoGAN-style G and D for 28×28 images: the MNIST / Fashion-MNIST architecture
of Lucic et al. 2018 ("Are GANs Created Equal?", compare_gan/architectures/infogan.py).

  G: z → FC 1024 → BN → ReLU → FC 7·7·128 → BN → ReLU → ConvT 64 (4×4, s2) → BN → ReLU
       → ConvT C (4×4, s2) → tanh
  D: x → Conv 64 (4×4, s2) → LReLU 0.2 → Conv 128 (4×4, s2) → norm → LReLU 0.2
       → FC 1024 → norm → LReLU 0.2 → FC 1

compare_gan's G ends in a sigmoid for images in [0, 1]; gan_jax's images are in [-1, 1], so tanh
(= 2·sigmoid(2a) - 1, the same family). D's norm is ``model.d_norm``: BatchNorm ('auto' without
spectral norm, as compare_gan's default), 'layer' or 'none' (e.g. for WGAN-GP, whose penalty is
per example).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import common
from gan_jax.ops import conv as conv_ops


class InfoGAN28Generator(nn.Module):
  out_shape: tuple
  width: int = 0  # unused: the architecture is fixed
  depth: int = 0
  num_classes: int = 0
  embed_dim: int = 128
  axis_name: str | None = None
  conv_impl: str = "fast"
  bn_momentum: float = 0.9  # running = m·running + (1 - m)·batch; 0 makes them the batch's

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,  # noqa: E731
                              epsilon=1e-5, axis_name=self.axis_name)
    h = common.concat_label_embedding(z, labels, self.num_classes, self.embed_dim)
    h = nn.relu(bn()(nn.Dense(1024, use_bias=False, name="fc1")(h)))
    h = nn.relu(bn()(nn.Dense(7 * 7 * 128, use_bias=False, name="fc2")(h)))
    h = h.reshape((z.shape[0], 7, 7, 128))
    _, conv_t = conv_ops.layer_classes(self.conv_impl)
    h = conv_t(64, (4, 4), strides=(2, 2), padding="SAME", use_bias=False, name="deconv3")(h)
    h = nn.relu(bn()(h))
    h = conv_t(self.out_shape[-1], (4, 4), strides=(2, 2), padding="SAME", name="deconv4")(h)
    return jnp.tanh(h)


class InfoGAN28Discriminator(common.ConditionalDiscriminator):
  norm: str = "batch"
  axis_name: str | None = None
  conv_impl: str = "fast"

  def _norm(self, h, *, train: bool, name: str):
    if self.norm == "layer" and h.ndim == 2:  # the FC layer: over its features
      return nn.LayerNorm(epsilon=1e-5, name=name)(h)
    return common.d_normalization(self.norm, train=train, axis_name=self.axis_name,
                                  name=name)(h)

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    h = x
    if self.num_classes and self.conditioning == "concat":
      h = common.concat_label_channels(h, labels, self.num_classes)
    conv_cls, _ = conv_ops.layer_classes(self.conv_impl)
    sn = dict(enabled=self.spectral_norm, train=train)
    conv1 = conv_cls(64, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), name="conv1")
    h = nn.leaky_relu(common.maybe_spectral_norm(conv1, h, **sn), 0.2)
    conv2 = conv_cls(128, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), name="conv2")
    h = common.maybe_spectral_norm(conv2, h, **sn)
    h = nn.leaky_relu(self._norm(h, train=train, name="norm2"), 0.2)
    h = h.reshape((h.shape[0], -1))
    h = common.maybe_spectral_norm(nn.Dense(1024, name="fc3"), h, **sn)
    h = nn.leaky_relu(self._norm(h, train=train, name="norm3"), 0.2)
    return common.output_head(h, labels, num_classes=self.num_classes,
                              conditioning=self.conditioning, spectral_norm=self.spectral_norm,
                              train=train)
