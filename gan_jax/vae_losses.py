"""The VAE's ELBO and VAE-GAN's three losses (Larsen et al. 2016), as pure functions.

Images x are in [-1, 1]; the decoder gives a pre-activation a per pixel, with mean image tanh(a)
(G's output). Per example, summed over pixels and latent dimensions:

  KL(q(z|x) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² - 1 - log σ_j²)                     ``gaussian_kl``
  z = μ + σ ⊙ ε, ε ~ N(0, I)                                                  ``reparameterize``
  -log p(x|z), 'bernoulli': t = (x + 1)/2 with P(t = 1) = σ(2a) (so E t = (tanh(a) + 1)/2):
      Σ softplus(2a) - t·2a
  -log p(x|z), 'gaussian': N(x; tanh(a), s²): Σ (x - tanh(a))²/(2s²) + log s + ½ log 2π
  -ELBO = E[-log p(x|z)] + β·KL (β = 1: the ELBO; β > 1: β-VAE)               ``negative_elbo``

VAE-GAN (Larsen et al. 2016, Algorithm 1): with φ_l D's layer-l features, x̃ = Dec(z), z ~ q(z|x),
x_p = Dec(z_p), z_p ~ N(0, I), and the GAN objective's per-example terms of ``gan_jax.losses``
(real ℓ_r, fake ℓ_f, generator ℓ_g):

  L_llike = ½ Σ (φ_l(x̃) - φ_l(x))²   (-log N(φ_l(x); φ_l(x̃), I) less its constant)
  L_prior = KL(q(z|x) ‖ N(0, I))
  encoder:       β·L_prior + L_llike   (β = 1: the paper's; ``vae.beta``)
  decoder:       γ·L_llike + E ℓ_g(D(x̃)) + E ℓ_g(D(x_p))
  discriminator: E ℓ_r(D(x)) + E ℓ_f(D(x̃)) + E ℓ_f(D(x_p))

With objective='minimax' and L_GAN = -[log D(x) + log(1 - D(x̃)) + log(1 - D(x_p))] (D's
cross-entropy: the sign under which Algorithm 1's updates are a GAN's, D descending L_GAN and the
decoder γ·L_llike - L_GAN) these are Algorithm 1's losses; 'non_saturating' (the default) swaps
the decoder's log(1 - D) for -log D, as for GANs.
Each player is updated with the gradient of its own loss only (D's features in L_llike are
held fixed for D; the decoder's GAN terms do not reach the encoder).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from gan_jax import losses

LIKELIHOODS = ("bernoulli", "gaussian")


def _per_example_sum(v):
  return jnp.sum(jnp.reshape(v, (v.shape[0], -1)), axis=-1)


def gaussian_kl(mean, logvar):
  """KL(N(μ, diag e^logvar) ‖ N(0, I)) per example: ½ Σ (μ² + e^logvar - 1 - logvar)."""
  return 0.5 * _per_example_sum(jnp.square(mean) + jnp.exp(logvar) - 1.0 - logvar)


def reparameterize(mean, logvar, eps):
  """z = μ + σ·ε with σ = exp(logvar / 2): a sample of q(z|x) differentiable in (μ, logvar)."""
  return mean + jnp.exp(0.5 * logvar) * eps


def reconstruction_nll(pre_activation, x, *, likelihood: str, gaussian_std: float = 1.0):
  """-log p(x | z) per example from the decoder's pre-activation a (module docstring)."""
  if likelihood == "bernoulli":
    logits, target = 2.0 * pre_activation, (x + 1.0) / 2.0
    return _per_example_sum(jax.nn.softplus(logits) - target * logits)
  if likelihood == "gaussian":
    s = gaussian_std
    sq = _per_example_sum(jnp.square(x - jnp.tanh(pre_activation)))
    dims = math.prod(x.shape[1:])
    return sq / (2.0 * s * s) + dims * (math.log(s) + 0.5 * math.log(2.0 * math.pi))
  raise ValueError(f"likelihood={likelihood!r} is unknown; valid: {', '.join(LIKELIHOODS)}")


def negative_elbo(pre_activation, x, mean, logvar, *, likelihood: str, beta: float = 1.0,
                  gaussian_std: float = 1.0) -> dict:
  """{'loss': E[-log p(x|z) + β·KL], 'recon': E[-log p(x|z)], 'kl': E KL}, batch means."""
  recon = jnp.mean(reconstruction_nll(pre_activation, x, likelihood=likelihood,
                                      gaussian_std=gaussian_std))
  kl = jnp.mean(gaussian_kl(mean, logvar))
  return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def feature_reconstruction(fake_features, real_features):
  """L_llike per example: ½ Σ (φ_l(x̃) - φ_l(x))², the real features a constant."""
  return 0.5 * _per_example_sum(jnp.square(fake_features - jax.lax.stop_gradient(real_features)))


def vaegan_losses(real_out, recon_out, prior_out, llike, kl, *, gamma: float,
                  objective: str = "non_saturating", beta: float = 1.0) -> dict:
  """The three players' losses (batch means) of Larsen et al.'s Algorithm 1 (module docstring);
  D outputs are raw (logits for the logit objectives), ``llike`` and ``kl`` per example."""
  obj = losses.get(objective)
  flat = lambda v: jnp.reshape(v, (-1,))  # noqa: E731
  real_out, recon_out, prior_out = flat(real_out), flat(recon_out), flat(prior_out)
  llike, kl = jnp.mean(llike), jnp.mean(kl)
  gan_d = (jnp.mean(obj.real_term(real_out, 0.0)) + jnp.mean(obj.fake_term(recon_out))
           + jnp.mean(obj.fake_term(prior_out)))
  gan_g = jnp.mean(obj.gen_term(recon_out)) + jnp.mean(obj.gen_term(prior_out))
  return {"encoder": beta * kl + llike, "decoder": gamma * llike + gan_g, "discriminator": gan_d,
          "llike": llike, "kl": kl}
