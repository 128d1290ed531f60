"""The games the trainer plays (``config.game``): each names its players, how a batch flows
through them and its losses (``games.base.Game``).

- ``gan``: G(z, c) → x against D(x, c), every objective of ``gan_jax.losses`` (the default);
- ``pix2pix``: paired image-to-image translation, U-Net G(x) against PatchGAN D(x, y);
- ``cyclegan``: unpaired translation, G_ab and G_ba against PatchGANs D_b and D_a, with cycle
  and identity terms and history buffers of fakes;
- ``vae``: a Gaussian encoder and G as the decoder on the ELBO (``games.vae``);
- ``vaegan``: VAE-GAN (Larsen et al. 2016): encoder, decoder as generator, D (``games.vaegan``);
- ``stylegan2``: stylegan2-ada-pytorch's loop: non-saturating loss, lazy R1 and path length,
  style mixing, G's EMA in kimg, ADA;
"""

from __future__ import annotations

from gan_jax.errors import ConfigError


def _registry() -> dict:
  from gan_jax.games import cyclegan, gan, pix2pix, stylegan2, vae, vaegan

  return {"gan": gan.GANGame, "pix2pix": pix2pix.Pix2PixGame, "cyclegan": cyclegan.CycleGANGame,
          "vae": vae.VAEGame, "vaegan": vaegan.VAEGANGame, "stylegan2": stylegan2.StyleGAN2Game}


NAMES = ("gan", "pix2pix", "cyclegan", "vae", "vaegan", "stylegan2")


def get(name: str):
  """The Game class called ``name``; ConfigError naming the valid choices otherwise."""
  if name not in NAMES:
    raise ConfigError(f"game={name!r} is unknown; valid: {', '.join(NAMES)}")
  return _registry()[name]
