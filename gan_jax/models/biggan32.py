"""BigGAN at 32x32 as PyTorch-StudioGAN builds it (``big_resnet.py``, configs/CIFAR10/BigGAN).

The ResNet of ``resnet32`` at width w = 96 (G 4w = 384 channels, D 2w = 192) with:
  - hierarchical z: z (80) is split into 4 chunks of 20; the first feeds Dense(16·4w), chunk
    i+1 the conditional BNs of G block i, after the shared class embedding (embed_dim = 128,
    not spectrally normalised), so every block's BN is conditional, even without labels;
  - self-attention after G's second block and after D's first;
  - spectral norm in G (``model.g_spectral_norm``) and D (``model.spectral_norm``), as the
    recipe sets; orthogonal initialisation; the projection head in a conditional D.
"""

from __future__ import annotations

from gan_jax.models import resnet32

DEFAULT_WIDTH = 96
NUM_Z_CHUNKS = 4  # One for the input Dense and one per G block.


class BigGAN32Generator(resnet32.ResNet32Generator):
  default_width: int = DEFAULT_WIDTH
  hierarchical: bool = True
  attention_after: int = 2


class BigGAN32Discriminator(resnet32.ResNet32Discriminator):
  default_width: int = DEFAULT_WIDTH
  attention_after: int = 1
