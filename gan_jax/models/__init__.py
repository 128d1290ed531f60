"""Model registry: ``get(model_config, ...)`` returns a (generator, discriminator) pair.

Generators are called as ``G(z, labels=None, train=...)`` and return samples shaped like the
dataset's examples; discriminators as ``D(x, labels=None, train=...)`` and return one raw output
per example, shape (N,), or with ``conditioning='ac'`` the pair (that output, class logits (N, K))
of AC-GAN's auxiliary classifier. ``labels`` is used only by conditional models.

``infogan28`` is compare_gan's InfoGAN-style MNIST architecture (Lucic et al. 2018; its D takes
``model.d_norm``). ``dcgan_cifar``, ``resnet32`` and ``biggan32`` are PyTorch-StudioGAN's
CIFAR-10 architectures (same layers, biases and parameter counts); they also honour
``model.g_spectral_norm`` and ``model.d_norm``, and a conditional G uses conditional BatchNorm.
"""

from __future__ import annotations

import math

import jax

from gan_jax.errors import ConfigError, check_choice
from gan_jax.models import (
  biggan32,
  common,
  dcgan,
  dcgan_cifar,
  infogan,
  mlp,
  resnet32,
  stylegan2,
)
from gan_jax.ops import conv

_REGISTRY = {
    "mlp": (mlp.MLPGenerator, mlp.MLPDiscriminator),
    "dcgan28": (dcgan.DCGAN28Generator, dcgan.DCGAN28Discriminator),
    "dcgan32": (dcgan.DCGAN32Generator, dcgan.DCGAN32Discriminator),
    "dcgan_cifar": (dcgan_cifar.DCGANCifarGenerator, dcgan_cifar.DCGANCifarDiscriminator),
    "resnet32": (resnet32.ResNet32Generator, resnet32.ResNet32Discriminator),
    "biggan32": (biggan32.BigGAN32Generator, biggan32.BigGAN32Discriminator),
    "infogan28": (infogan.InfoGAN28Generator, infogan.InfoGAN28Discriminator),
}
NAMES = tuple(_REGISTRY) + ("stylegan2",)
# D's conditioning ('none': D ignores the labels while a conditional G still uses them; 'ac':
# AC-GAN's auxiliary class head).
CONDITIONINGS = ("projection", "concat", "ac", "none")
# The StudioGAN families: G spectral norm and D normalisation are options.
STUDIOGAN_MODELS = ("dcgan_cifar", "resnet32", "biggan32")
# 'auto' is StudioGAN's rule: BatchNorm in D unless D is spectrally normalised.
D_NORMS = ("auto",) + common.D_NORMS
# The example shape each convolutional model produces; mlp adapts to any shape.
IMAGE_SHAPES = {"dcgan28": (28, 28), "dcgan32": (32, 32), "infogan28": (28, 28),
                **{name: (32, 32) for name in STUDIOGAN_MODELS}}


def count_params(tree) -> int:
  """Number of scalars in a pytree of arrays or ShapeDtypeStructs (e.g. trainable params)."""
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def validate_config(model_config) -> None:
  """ConfigError for a ``model.*`` choice that is not one of the valid ones."""
  check_choice("model.name", model_config.name, NAMES)
  check_choice("model.conditioning", model_config.get("conditioning", "projection"),
               CONDITIONINGS)
  check_choice("model.d_norm", model_config.get("d_norm", "auto"), D_NORMS)
  check_choice("model.conv_impl", model_config.get("conv_impl", "fast"), conv.CONV_IMPLS)


def get(model_config, *, example_shape, num_classes=0, axis_name=None):
  """Builds G and D for ``model_config`` (name, z_dim, width, spectral_norm, conditioning...).

  ``num_classes > 0`` makes both models conditional; ``axis_name`` names the device axis over
  which BatchNorm statistics are averaged inside a data-parallel step.
  """
  name = model_config.name
  if name == "stylegan2":  # stylegan2-ada-pytorch's networks, their own model.* fields
    return stylegan2.build(model_config, example_shape=tuple(example_shape),
                           num_classes=num_classes, axis_name=axis_name)
  validate_config(model_config)
  conditioning = model_config.get("conditioning", "projection")
  example_shape = tuple(example_shape)
  if name in IMAGE_SHAPES and (
      len(example_shape) != 3 or example_shape[:2] != IMAGE_SHAPES[name]):
    raise ConfigError(
        f"model.name={name!r} makes {IMAGE_SHAPES[name][0]}x{IMAGE_SHAPES[name][1]}xC images "
        f"but the dataset's examples have shape {example_shape}; pick a model for that size")
  g_cls, d_cls = _REGISTRY[name]
  spectral_norm = bool(model_config.get("spectral_norm", False))
  g_extra, d_extra = _studiogan_options(model_config, name, spectral_norm, axis_name)
  shared = dict(embed_dim=model_config.get("embed_dim", 128), width=model_config.get("width", 0),
                depth=model_config.get("depth", 0))
  if name in IMAGE_SHAPES:
    shared["conv_impl"] = conv.resolve_impl(model_config.get("conv_impl", "fast"),
                                            jax.default_backend())
  generator = g_cls(out_shape=example_shape, axis_name=axis_name, num_classes=num_classes,
                    **shared, **g_extra)
  discriminator = d_cls(
      spectral_norm=spectral_norm, conditioning=conditioning,
      num_classes=0 if conditioning == "none" else num_classes, **shared, **d_extra)
  return generator, discriminator


def _studiogan_options(model_config, name: str, spectral_norm: bool, axis_name):
  """(G, D) keyword arguments of the StudioGAN families: G's SN, D's norm and device axis."""
  g_sn = bool(model_config.get("g_spectral_norm", False))
  d_norm = model_config.get("d_norm", "auto")
  if name == "infogan28":  # compare_gan's D normalisation option; G has no SN option
    if g_sn:
      raise ConfigError("model.g_spectral_norm does not apply to model.name='infogan28'")
    return {}, dict(norm="none" if d_norm == "auto" and spectral_norm else
                    ("batch" if d_norm == "auto" else d_norm), axis_name=axis_name)
  if name not in STUDIOGAN_MODELS:
    if g_sn or d_norm != "auto":
      raise ConfigError(f"model.g_spectral_norm and model.d_norm apply to model.name in "
                        f"{', '.join(STUDIOGAN_MODELS)}, not {name!r}")
    return {}, {}
  if name == "biggan32" and model_config.z_dim % biggan32.NUM_Z_CHUNKS:
    raise ConfigError(f"model.z_dim={model_config.z_dim} must be divisible by "
                      f"{biggan32.NUM_Z_CHUNKS} for biggan32 (one chunk per G block + input)")
  if d_norm == "auto":
    d_norm = "none" if spectral_norm else "batch"
  return dict(spectral_norm=g_sn), dict(norm=d_norm, axis_name=axis_name)
