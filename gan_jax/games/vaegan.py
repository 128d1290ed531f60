"""The VAE-GAN game (``game='vaegan'``, Larsen et al. 2016): the VAE's encoder, its decoder shared
as the generator, and the GAN's discriminator D, whose trunk layer ``vae.feature_layer`` is the
space in which reconstructions are measured.

One train step is Algorithm 1 of the paper: from one forward pass on a real batch x (z ~ q(z|x),
x̃ = Dec(z); z_p ~ N(0, I), x_p = Dec(z_p); D on [x, x̃, x_p] in one call) the three losses of
``vae_losses.vaegan_losses``, each player's gradient of its own loss only (one backward pass per
player of the shared forward pass, ``jax.vjp``), and the three Adam steps taken together
(encoder and decoder at ``optim.g_lr``, D at ``optim.d_lr``). The decoder's BatchNorm normalises
x̃ and x_p as one batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import losses, vae_losses
from gan_jax.errors import ConfigError
from gan_jax.evaluation import diagnostics
from gan_jax.games import updates
from gan_jax.games.vae import VAEGame
from gan_jax.models import vae as vae_models

# The GAN objectives whose per-example terms make Algorithm 1's L_GAN (no gradient penalty, no
# weight clipping: D is the unconstrained DCGAN D).
OBJECTIVES = ("minimax", "non_saturating", "lsgan", "hinge")


class VAEGANGame(VAEGame):
  name = "vaegan"
  checked_metrics = ("d_loss", "g_loss", "e_loss", "llike", "kl")
  nonfinite_metrics = ("e_nonfinite", "g_nonfinite", "d_nonfinite")
  progress_metrics = (("d_loss", "d_loss", ".4f"), ("g_loss", "g_loss", ".4f"),
                      ("llike", "llike", ".2f"), ("kl", "kl", ".2f"),
                      ("D(x)", "d_real", ".3f"), ("D(Dec(z_p))", "d_fake", ".3f"))

  def __init__(self, config, dataset, *, num_devices: int):
    super().__init__(config, dataset, num_devices=num_devices)
    if config.objective not in OBJECTIVES:
      raise ConfigError(f"objective={config.objective!r} is not supported by game='vaegan'; "
                        f"valid: {', '.join(OBJECTIVES)}")
    if config.model.spectral_norm:
      raise ConfigError("model.spectral_norm=True is not supported by game='vaegan'; set "
                        "model.spectral_norm=False")
    layers = len(self.discriminator.channels)
    if config.vae.feature_layer not in range(layers):
      raise ConfigError(f"vae.feature_layer={config.vae.feature_layer!r} is not a layer of "
                        f"D's trunk; valid: {', '.join(map(str, range(layers)))}")
    if not config.vae.gamma >= 0:
      raise ConfigError(f"vae.gamma={config.vae.gamma!r} must be non-negative")
    self.objective = losses.get(config.objective)

  def _init_d(self, key, x):
    return self.discriminator.init(key, x, None, train=False)["params"]

  def train_step(self, state, batch, train_key):
    v = self.config.vae
    x = batch["x"][:, 0]
    n = x.shape[0]
    k_eps, k_prior = jax.random.split(jax.random.fold_in(train_key, state.step))
    eps, z_prior = self._latents(k_eps, n), self._latents(k_prior, n)

    def losses_fn(e_params, g_params, d_params):
      z, mean, logvar = self.encode(e_params, x, eps)
      a, g_stats = self.decode(g_params, state.g_batch_stats, jnp.concatenate([z, z_prior]))
      out, feats = vae_models.d_features(self.discriminator, {"params": d_params},
                                         jnp.concatenate([x, jnp.tanh(a)]), v.feature_layer)
      real_out, recon_out, prior_out = out[:n], out[n:2 * n], out[2 * n:]
      llike = vae_losses.feature_reconstruction(feats[n:2 * n], feats[:n])
      terms = vae_losses.vaegan_losses(
          real_out, recon_out, prior_out, llike, vae_losses.gaussian_kl(mean, logvar),
          gamma=v.gamma, objective=self.config.objective, beta=v.beta)
      return ((terms["encoder"], terms["decoder"], terms["discriminator"]),
              (terms, g_stats, real_out, prior_out))

    (e_loss, g_loss, d_loss), pullback, (terms, g_stats, real_out, prior_out) = jax.vjp(
        losses_fn, state.e_params, state.g_params, state.d_params, has_aux=True)
    one, zero = jnp.ones(()), jnp.zeros(())
    e_grads = pullback((one, zero, zero))[0]  # ∇_e (L_prior + L_llike)
    g_grads = pullback((zero, one, zero))[1]  # ∇_dec (γ·L_llike + L_GAN's decoder terms)
    d_grads = pullback((zero, zero, one))[2]  # ∇_D L_GAN
    metrics = jax.lax.pmean(dict(
        e_loss=e_loss, g_loss=g_loss, d_loss=d_loss, llike=terms["llike"], kl=terms["kl"],
        d_real=jnp.mean(self.objective.d_prob_or_score(real_out)),
        d_fake=jnp.mean(self.objective.d_prob_or_score(prior_out))), updates.AXIS)
    new, metrics = self._update(state, "e", e_grads, metrics, e_loss)
    new, metrics = self._update_decoder(new, state, g_grads, metrics, g_loss, g_stats)
    new, metrics = self._update(new, "d", d_grads, metrics, d_loss)
    metrics["skipped_updates"] = new.skipped_updates
    return new.replace(step=state.step + 1), metrics

  def summarize(self, history: list[dict]) -> dict:
    return diagnostics.summarize(
        history, d_fake_is_probability=self.objective.output == "logit", d_fake_key="d_fake")
