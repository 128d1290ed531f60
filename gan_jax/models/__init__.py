"""Model registry: ``get(model_config, ...)`` returns a (generator, discriminator) pair.

Generators are called as ``G(z, labels=None, train=...)`` and return samples shaped like the
dataset's examples; discriminators as ``D(x, labels=None, train=...)`` and return one raw output
per example, shape (N,), or with ``conditioning='ac'`` the pair (that output, class logits (N, K))
of AC-GAN's auxiliary classifier. ``labels`` is used only by conditional models.
"""

from __future__ import annotations

from gan_jax.errors import ConfigError
from gan_jax.models import dcgan, mlp

_REGISTRY = {
    "mlp": (mlp.MLPGenerator, mlp.MLPDiscriminator),
    "dcgan28": (dcgan.DCGAN28Generator, dcgan.DCGAN28Discriminator),
    "dcgan32": (dcgan.DCGAN32Generator, dcgan.DCGAN32Discriminator),
}
NAMES = tuple(_REGISTRY)
CONDITIONINGS = ("projection", "concat", "ac")
# The example shape each convolutional model produces; mlp adapts to any shape.
IMAGE_SHAPES = {"dcgan28": (28, 28), "dcgan32": (32, 32)}


def get(model_config, *, example_shape, num_classes=0, axis_name=None):
  """Builds G and D for ``model_config`` (name, z_dim, width, spectral_norm, conditioning...).

  ``num_classes > 0`` makes both models conditional; ``axis_name`` names the device axis over
  which BatchNorm statistics are averaged inside a data-parallel step.
  """
  name = model_config.name
  if name not in _REGISTRY:
    raise ConfigError(f"model.name={name!r} is unknown; valid: {', '.join(NAMES)}")
  conditioning = model_config.get("conditioning", "projection")
  if conditioning not in CONDITIONINGS:
    raise ConfigError(
        f"model.conditioning={conditioning!r} is unknown; valid: {', '.join(CONDITIONINGS)}")
  example_shape = tuple(example_shape)
  if name in IMAGE_SHAPES and (
      len(example_shape) != 3 or example_shape[:2] != IMAGE_SHAPES[name]):
    raise ConfigError(
        f"model.name={name!r} makes {IMAGE_SHAPES[name][0]}x{IMAGE_SHAPES[name][1]}xC images "
        f"but the dataset's examples have shape {example_shape}; pick a model for that size")
  g_cls, d_cls = _REGISTRY[name]
  common = dict(num_classes=num_classes, embed_dim=model_config.get("embed_dim", 128))
  if name in IMAGE_SHAPES:  # configs.validate has checked the choice
    common["conv_impl"] = model_config.get("conv_impl", "fast")
  generator = g_cls(
      out_shape=example_shape, width=model_config.get("width", 0),
      depth=model_config.get("depth", 0), axis_name=axis_name, **common)
  discriminator = d_cls(
      width=model_config.get("width", 0), depth=model_config.get("depth", 0),
      spectral_norm=bool(model_config.get("spectral_norm", False)),
      conditioning=conditioning, **common)
  return generator, discriminator
