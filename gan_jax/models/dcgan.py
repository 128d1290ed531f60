"""DCGAN generators and discriminators for 28x28xC and 32x32xC images.

``DCGAN28`` is exactly the architecture of ``../shared/reference/torch_dcgan_bench.py`` (beside
the repository; ``benchmarks/vs_torch.sh``) so that step timings compare with the PyTorch
reference:
  G: z(100) -> Dense 7*7*128 -> BN -> ReLU -> ConvT 64 (4x4, s2) -> BN -> ReLU -> ConvT C -> tanh
  D: Conv 64 (4x4, s2) -> LReLU 0.2 -> Conv 128 (4x4, s2) -> LReLU 0.2 -> Dense 1
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import common
from gan_jax.ops import conv as conv_ops


class _DCGANGenerator(nn.Module):
  """z -> Dense(s*s*c0) -> BN -> ReLU -> [ConvT(4x4, s2) -> BN -> ReLU]* -> ConvT(C) -> tanh."""

  out_shape: tuple
  base_size: int = 7
  channels: tuple = (128, 64)
  width: int = 0
  depth: int = 0
  num_classes: int = 0
  embed_dim: int = 128
  axis_name: str | None = None
  conv_impl: str = "fast"
  bn_momentum: float = 0.9  # running = m·running + (1 - m)·batch; 0 makes them the batch's
  # 'tanh': images in [-1, 1]; 'none': the pre-activation a (a VAE decoder's likelihood
  # parameters: mean tanh(a), Bernoulli logits 2a). The parameters are the same for both.
  output_activation: str = "tanh"

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    bn = lambda: nn.BatchNorm(  # noqa: E731
        use_running_average=not train, momentum=self.bn_momentum, epsilon=1e-5,
        axis_name=self.axis_name)
    h = common.concat_label_embedding(z, labels, self.num_classes, self.embed_dim)
    # Layers followed by BatchNorm carry no bias: BN removes it, so its gradient is pure noise.
    h = nn.Dense(self.base_size * self.base_size * self.channels[0], use_bias=False)(h)
    h = nn.relu(bn()(h))
    h = h.reshape((z.shape[0], self.base_size, self.base_size, self.channels[0]))
    _, conv_t = conv_ops.layer_classes(self.conv_impl)
    # Explicit names keep the parameter tree the same for both conv_impl choices.
    for i, c in enumerate(self.channels[1:]):
      h = conv_t(c, (4, 4), strides=(2, 2), padding="SAME", use_bias=False,
                 name=f"ConvTranspose_{i}")(h)
      h = nn.relu(bn()(h))
    h = conv_t(self.out_shape[-1], (4, 4), strides=(2, 2), padding="SAME",
               name=f"ConvTranspose_{len(self.channels) - 1}")(h)
    return jnp.tanh(h) if self.output_activation == "tanh" else h


def conv_trunk(module: nn.Module, x, *, channels: tuple, conv_impl: str, spectral_norm: bool,
               train: bool):
  """D's features φ(x): [Conv(4x4, s2) -> LReLU 0.2]* flattened, built inside ``module``'s
  compact call (layers ``Conv_i``); shared by the DCGAN discriminators and the VAE encoder.

  Layer i's activations are sown as ``('intermediates', 'features_i')``: an ``apply`` with
  ``mutable=['intermediates']`` returns them (VAE-GAN's feature-space reconstruction), any other
  ``apply`` ignores them, so outputs and parameters are those without the sow.
  """
  h = x
  conv_cls, _ = conv_ops.layer_classes(conv_impl)
  for i, c in enumerate(channels):
    conv = conv_cls(c, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), name=f"Conv_{i}")
    h = nn.leaky_relu(common.maybe_spectral_norm(conv, h, enabled=spectral_norm, train=train), 0.2)
    module.sow("intermediates", f"features_{i}", h)
  return h.reshape((h.shape[0], -1))


class _DCGANDiscriminator(common.ConditionalDiscriminator):
  """x -> [Conv(4x4, s2) -> LReLU 0.2]* -> Dense(1), with projection, concat or AC conditioning."""

  channels: tuple = (64, 128)
  conv_impl: str = "fast"

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    h = x
    if self.num_classes and self.conditioning == "concat":
      h = common.concat_label_channels(h, labels, self.num_classes)
    h = conv_trunk(self, h, channels=self.channels, conv_impl=self.conv_impl,
                   spectral_norm=self.spectral_norm, train=train)
    return common.output_head(h, labels, num_classes=self.num_classes,
                              conditioning=self.conditioning, spectral_norm=self.spectral_norm,
                              train=train)


class DCGAN28Generator(_DCGANGenerator):
  base_size: int = 7
  channels: tuple = (128, 64)


class DCGAN28Discriminator(_DCGANDiscriminator):
  channels: tuple = (64, 128)


class DCGAN32Generator(_DCGANGenerator):
  base_size: int = 4
  channels: tuple = (256, 128, 64)


class DCGAN32Discriminator(_DCGANDiscriminator):
  channels: tuple = (64, 128, 256)
