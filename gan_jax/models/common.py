"""Pieces shared by the architectures: conditioning, normalisation, optional spectral norm."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp

# StudioGAN initialises every conv, linear and embedding weight orthogonally, biases at zero.
ORTHOGONAL = nn.initializers.orthogonal()
# D's normalisation after its convolutions (the StudioGAN families): BatchNorm, the
# per-example LayerNorm (a gradient penalty needs D(x) to depend on x alone), or none.
D_NORMS = ("batch", "layer", "none")
BN_EPSILON = 1e-4  # StudioGAN's batchnorm_2d: eps 1e-4, momentum 0.1 (flax: 0.9).


def maybe_spectral_norm(layer: nn.Module, x, *, enabled: bool, train: bool):
  """Applies ``layer``, through ``nn.SpectralNorm`` (W / σ_max(W), one power iteration a call)."""
  if enabled:
    return nn.SpectralNorm(layer)(x, update_stats=train)
  return layer(x)


def concat_label_embedding(z, labels, num_classes: int, embed_dim: int):
  """G's conditioning: [z, Embed(c)]."""
  if not num_classes:
    return z
  emb = nn.Embed(num_classes, embed_dim, name="label_embed")(labels)
  return jnp.concatenate([z, emb], axis=-1)


def concat_label_channels(x, labels, num_classes: int):
  """Concat-in-D conditioning: one-hot label planes appended to the input's channels/features."""
  one_hot = jnp.eye(num_classes, dtype=x.dtype)[labels]
  if x.ndim == 4:
    one_hot = jnp.broadcast_to(one_hot[:, None, None, :], x.shape[:3] + (num_classes,))
  return jnp.concatenate([x, one_hot], axis=-1)


class ConditionalDiscriminator(nn.Module):
  """The fields every D(x, c) takes from ``model.*``: its size (``width``, ``depth``; 0 = the
  family's default), the class count K (0 = unconditional D(x)), how c enters ('projection',
  'concat' or 'ac', see ``output_head``), the label-embedding width and spectral norm."""

  width: int = 0
  depth: int = 0
  num_classes: int = 0
  embed_dim: int = 128
  spectral_norm: bool = False
  conditioning: str = "projection"


class StudioGANDiscriminator(ConditionalDiscriminator):
  """The fields the StudioGAN discriminators (dcgan_cifar, resnet32, biggan32) add; they use
  neither ``depth`` nor ``embed_dim``."""

  conv_impl: str = "fast"
  norm: str = "batch"
  axis_name: str | None = None


def output_head(features, labels, *, num_classes: int, conditioning: str, spectral_norm: bool,
                train: bool, dense=None, embedding_init=None):
  """D's output from its features φ(x): ψ(φ) = Dense(1) (``dense``, spectral-normalised with
  ``spectral_norm``), plus <Embed(c), φ> for 'projection'; with 'ac', the pair (that logit, AC
  class logits). ``num_classes`` = 0: ψ(φ) alone."""
  dense = nn.Dense(1) if dense is None else dense
  logit = maybe_spectral_norm(dense, features, enabled=spectral_norm, train=train)[:, 0]
  if num_classes and conditioning == "projection":
    logit = projection_output(features, labels, logit, num_classes, spectral_norm, train,
                              embedding_init=embedding_init)
  if num_classes and conditioning == "ac":
    return auxiliary_classifier_output(features, logit, num_classes, spectral_norm, train)
  return logit


def projection_output(features, labels, logit, num_classes: int, spectral_norm: bool,
                      train: bool, embedding_init=None):
  """Projection discriminator (Miyato & Koyama 2018): D(x, c) = ψ(φ(x)) + <Embed(c), φ(x)>."""
  init = {} if embedding_init is None else {"embedding_init": embedding_init}
  emb = nn.Embed(num_classes, features.shape[-1], name="proj_embed", **init)
  if spectral_norm:
    # Normalise the embedding table like a weight matrix.
    table = nn.SpectralNorm(emb, name="proj_sn")
    e = table(labels, update_stats=train)
  else:
    e = emb(labels)
  return logit + jnp.sum(e * features, axis=-1)


BN_MOMENTUM = 0.9  # flax's convention: running = m·running + (1 - m)·batch (torch's 0.1)


def batch_norm(*, train: bool, axis_name: str | None, affine: bool = True,
               momentum: float = BN_MOMENTUM, name=None):
  """StudioGAN's BatchNorm (ε = 1e-4, running averages with momentum 0.1), statistics averaged
  over the device axis ``axis_name`` in training. ``momentum=0`` makes the running statistics
  the batch's (sampling.standing_batch_stats)."""
  return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=BN_EPSILON,
                      axis_name=axis_name, use_scale=affine, use_bias=affine, name=name)


def d_normalization(kind: str, *, train: bool, axis_name: str | None, name: str):
  """x -> BN(x) | LN(x) | x for D. LN normalises each example over (H, W, C) with a per-channel
  scale and bias: the same 2C parameters as BN, and no coupling between examples."""
  if kind == "batch":
    return batch_norm(train=train, axis_name=axis_name, name=name)
  if kind == "layer":
    return nn.LayerNorm(epsilon=1e-5, reduction_axes=(-3, -2, -1), feature_axes=-1, name=name)
  if kind == "none":
    return lambda x: x
  raise ValueError(f"model.d_norm={kind!r} is unknown; valid: {', '.join(D_NORMS)}")


class ConditionalBatchNorm(nn.Module):
  """y = BN(x)·(1 + W_γ c) + W_β c with BN's batch statistics and no BN affine (StudioGAN's
  ConditionalBatchNorm2d); W_γ, W_β are bias-free linears (spectrally normalised with G's SN).
  ``cond=None`` is the plain affine BatchNorm."""

  spectral_norm: bool = False
  axis_name: str | None = None
  momentum: float = BN_MOMENTUM

  @nn.compact
  def __call__(self, x, cond, *, train: bool):
    bn = functools.partial(batch_norm, train=train, axis_name=self.axis_name,
                           momentum=self.momentum, name="bn")
    if cond is None:
      return bn()(x)
    h = bn(affine=False)(x)
    features = x.shape[-1]
    gain, bias = (maybe_spectral_norm(
        nn.Dense(features, use_bias=False, kernel_init=ORTHOGONAL, name=name), cond,
        enabled=self.spectral_norm, train=train) for name in ("gain", "bias"))
    return h * (1.0 + gain[:, None, None, :]) + bias[:, None, None, :]


def auxiliary_classifier_output(features, logit, num_classes: int, spectral_norm: bool,
                                train: bool):
  """AC-GAN's D (Odena et al. 2017): (logit ψ(φ(x)), class logits W φ(x)); x unlabelled. W is
  bias-free with an orthogonal init, as StudioGAN's AC head (``linear2``, bias=False, 'ortho')."""
  head = nn.Dense(num_classes, use_bias=False, kernel_init=ORTHOGONAL, name="class_head")
  return logit, maybe_spectral_norm(head, features, enabled=spectral_norm, train=train)
