"""Pieces shared by the architectures: conditioning and optional spectral normalisation."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


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


def projection_output(features, labels, logit, num_classes: int, spectral_norm: bool,
                      train: bool):
  """Projection discriminator (Miyato & Koyama 2018): D(x, c) = ψ(φ(x)) + <Embed(c), φ(x)>."""
  emb = nn.Embed(num_classes, features.shape[-1], name="proj_embed")
  if spectral_norm:
    # Normalise the embedding table like a weight matrix.
    table = nn.SpectralNorm(emb, name="proj_sn")
    e = table(labels, update_stats=train)
  else:
    e = emb(labels)
  return logit + jnp.sum(e * features, axis=-1)


def auxiliary_classifier_output(features, logit, num_classes: int, spectral_norm: bool,
                                train: bool):
  """AC-GAN's D (Odena et al. 2017): (logit ψ(φ(x)), class logits Dense_K(φ(x))); x unlabelled."""
  head = nn.Dense(num_classes, name="class_head")
  return logit, maybe_spectral_norm(head, features, enabled=spectral_norm, train=train)
