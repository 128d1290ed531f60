"""The games the trainer plays (``config.game``): each names its players, how a batch flows
through them and its losses (``games.base.Game``).

- ``gan``: G(z, c) → x against D(x, c), every objective of ``gan_jax.losses`` (the default);
- ``pix2pix``: paired image-to-image translation, U-Net G(x) against PatchGAN D(x, y);
- ``cyclegan``: unpaired translation, G_ab and G_ba against PatchGANs D_b and D_a, with cycle
  and identity terms and history buffers of fakes;
"""

from __future__ import annotations

from gan_jax.errors import ConfigError


def _registry() -> dict:
  from gan_jax.games import cyclegan, gan, pix2pix

  return {"gan": gan.GANGame, "pix2pix": pix2pix.Pix2PixGame, "cyclegan": cyclegan.CycleGANGame}


NAMES = ("gan", "pix2pix", "cyclegan")


def get(name: str):
  """The Game class called ``name``; ConfigError naming the valid choices otherwise."""
  if name not in NAMES:
    raise ConfigError(f"game={name!r} is unknown; valid: {', '.join(NAMES)}")
  return _registry()[name]
