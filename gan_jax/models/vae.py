"""The VAE's networks, from the DCGAN family so that a VAE, a VAE-GAN and a GAN compare at equal
widths:

- the Gaussian encoder q(z|x) = N(μ(x), diag σ²(x)) is D's convolutional trunk
  (``dcgan.conv_trunk``: the same layers and widths as D) with a Dense(2·z_dim) head giving
  (μ, log σ²) in place of D's Dense(1);
- the decoder is G itself (``dcgan._DCGANGenerator``); with ``output_activation='none'`` it gives
  the pre-activation a whose tanh is the image (``decoder_pair``);
- VAE-GAN's discriminator is the GAN's D, whose trunk layer i is read with ``d_features``.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models import dcgan

# The models whose G and D the VAE games reuse (an encoder needs D's convolutional trunk).
VAE_MODELS = ("dcgan28", "dcgan32")


class GaussianEncoder(nn.Module):
  """x -> D's trunk [Conv(4x4, s2) -> LReLU 0.2]* -> Dense(2·z_dim) -> (μ, log σ²)."""

  z_dim: int
  channels: tuple = (64, 128)
  conv_impl: str = "fast"

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    h = dcgan.conv_trunk(self, x, channels=self.channels, conv_impl=self.conv_impl,
                         spectral_norm=False, train=train)
    stats = nn.Dense(2 * self.z_dim, name="Dense_0")(h)
    return stats[:, :self.z_dim], stats[:, self.z_dim:]


def encoder_for(discriminator, z_dim: int) -> GaussianEncoder:
  """The encoder with ``discriminator``'s trunk (its channels and convolution implementation)."""
  return GaussianEncoder(z_dim=z_dim, channels=tuple(discriminator.channels),
                         conv_impl=discriminator.conv_impl)


def decoder_pair(generator):
  """(G, G giving its pre-activation a): one set of parameters, images tanh(a)."""
  return generator, generator.clone(output_activation="none")


def check_model(model_name: str, game: str) -> None:
  if model_name not in VAE_MODELS:
    raise ConfigError(f"model.name={model_name!r} has no encoder for game={game!r}; "
                      f"valid: {', '.join(VAE_MODELS)}")


def d_features(discriminator, d_variables: dict, x, layer: int):
  """(D's outputs on x, the activations φ_l(x) of D's trunk layer ``layer``, flattened per
  example): one pass of D, its outputs and parameters unchanged by the read."""
  out, sown = discriminator.apply(d_variables, x, None, train=True, mutable=["intermediates"])
  feats = sown["intermediates"][f"features_{layer}"][0]
  return out, jnp.reshape(feats, (feats.shape[0], -1))
