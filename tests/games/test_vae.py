"""The VAE's ELBO terms and VAE-GAN's losses against closed forms, D's feature layer, and the
VAE games' configuration errors."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import games, vae_losses
from gan_jax.errors import ConfigError
from gan_jax.models import dcgan
from gan_jax.models import vae as vae_models

MEAN = jnp.array([[0.3, -1.2, 0.0], [2.0, 0.5, -0.7]])
LOGVAR = jnp.array([[0.1, -0.8, 0.0], [1.3, -2.0, 0.4]])


def test_gaussian_kl_and_its_gradient_match_the_closed_form():
  """KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² - 1 - log σ²) per dimension, summed: ∂/∂μ = μ and
  ∂/∂log σ² = ½(σ² - 1); and the value agrees with a Monte Carlo E_q[log q - log p]."""
  kl = vae_losses.gaussian_kl(MEAN, LOGVAR)
  var = np.exp(np.asarray(LOGVAR))
  np.testing.assert_allclose(kl, 0.5 * np.sum(np.asarray(MEAN) ** 2 + var - 1 - LOGVAR, -1),
                             rtol=1e-6)
  d_mean, d_logvar = jax.grad(lambda m, lv: jnp.sum(vae_losses.gaussian_kl(m, lv)),
                              argnums=(0, 1))(MEAN, LOGVAR)
  np.testing.assert_allclose(d_mean, MEAN, rtol=1e-6)
  np.testing.assert_allclose(d_logvar, 0.5 * (var - 1.0), rtol=1e-5, atol=1e-7)
  # Monte Carlo: E_q[log q(z) - log p(z)] with 400k draws (std error ~0.3 % here).
  eps = jax.random.normal(jax.random.key(0), (400_000,) + MEAN.shape)
  z = MEAN + jnp.exp(0.5 * LOGVAR) * eps
  log_q = -0.5 * (eps ** 2 + LOGVAR + jnp.log(2 * jnp.pi))
  log_p = -0.5 * (z ** 2 + jnp.log(2 * jnp.pi))
  np.testing.assert_allclose(jnp.mean(jnp.sum(log_q - log_p, -1), 0), kl, rtol=0.02, atol=0.01)


def test_reparameterisation_gradient_is_the_gradient_of_the_expectation():
  """For f(z) = z², E_q f = μ² + σ²: ∇μ = 2μ and ∇(log σ²) = σ². The pathwise estimate
  mean_i ∇ f(μ + σ·ε_i) matches both (Monte Carlo, 400k draws), and per draw it is exactly
  (2z, z·σ·ε)."""
  eps = jax.random.normal(jax.random.key(1), (400_000,) + MEAN.shape)
  objective = lambda m, lv, e: jnp.sum(jnp.mean(  # noqa: E731 - Σ over entries of mean_i f
      vae_losses.reparameterize(m, lv, e) ** 2, 0))
  d_mean, d_logvar = jax.grad(objective, argnums=(0, 1))(MEAN, LOGVAR, eps)
  var = jnp.exp(LOGVAR)
  np.testing.assert_allclose(d_mean, 2 * MEAN, atol=0.02)
  np.testing.assert_allclose(d_logvar, var, rtol=0.02)
  one = eps[:1]
  d_mean1, d_logvar1 = jax.grad(objective, argnums=(0, 1))(MEAN, LOGVAR, one)
  z = MEAN + jnp.sqrt(var) * one[0]
  np.testing.assert_allclose(d_mean1, 2 * z, rtol=1e-5)
  np.testing.assert_allclose(d_logvar1, z * jnp.sqrt(var) * one[0], rtol=1e-5, atol=1e-6)


def test_bernoulli_and_gaussian_likelihoods_match_their_closed_forms():
  """Bernoulli: -log p = Σ -t log σ(2a) - (1 - t) log(1 - σ(2a)), t = (x + 1)/2, gradient
  2(σ(2a) - t); Gaussian: Σ (x - tanh a)²/(2s²) + D(log s + ½ log 2π)."""
  a = jax.random.normal(jax.random.key(2), (3, 4, 4, 1)) * 2
  x = jax.random.uniform(jax.random.key(3), (3, 4, 4, 1), minval=-1, maxval=1)
  t, p = (x + 1) / 2, jax.nn.sigmoid(2 * a)
  nll = vae_losses.reconstruction_nll(a, x, likelihood="bernoulli")
  np.testing.assert_allclose(nll, jnp.sum(-(t * jnp.log(p) + (1 - t) * jnp.log1p(-p)),
                                          (1, 2, 3)), rtol=1e-5)
  grad = jax.grad(lambda a: jnp.sum(vae_losses.reconstruction_nll(a, x, likelihood="bernoulli")))
  np.testing.assert_allclose(grad(a), 2 * (p - t), rtol=1e-5, atol=1e-6)
  s = 0.3
  g = vae_losses.reconstruction_nll(a, x, likelihood="gaussian", gaussian_std=s)
  ref = (jnp.sum((x - jnp.tanh(a)) ** 2, (1, 2, 3)) / (2 * s * s)
         + 16 * (np.log(s) + 0.5 * np.log(2 * np.pi)))
  np.testing.assert_allclose(g, ref, rtol=1e-5)
  elbo = vae_losses.negative_elbo(a, x, MEAN[:1].repeat(3, 0), LOGVAR[:1].repeat(3, 0),
                                  likelihood="bernoulli", beta=4.0)
  np.testing.assert_allclose(elbo["loss"], elbo["recon"] + 4.0 * elbo["kl"], rtol=1e-6)
  with pytest.raises(ValueError, match="likelihood"):
    vae_losses.reconstruction_nll(a, x, likelihood="poisson")


def test_vaegan_minimax_losses_are_algorithm_1():
  """objective='minimax': with L_GAN = -[log D(x) + log(1 - D(x̃)) + log(1 - D(x_p))] (D's
  cross-entropy, the sign under which Algorithm 1's updates are a GAN's), D descends L_GAN, the
  decoder γ·L_llike - L_GAN (its x̃, x_p terms), the encoder L_prior + L_llike."""
  r, f, p = jnp.array([1.5, -0.3]), jnp.array([0.2, -2.0]), jnp.array([-1.0, 0.7])
  llike, kl = jnp.array([3.0, 5.0]), jnp.array([1.0, 2.0])
  out = vae_losses.vaegan_losses(r, f, p, llike, kl, gamma=0.25, objective="minimax")
  log_d = lambda v: jnp.mean(jnp.log(jax.nn.sigmoid(v)))  # noqa: E731
  log_1md = lambda v: jnp.mean(jnp.log(1 - jax.nn.sigmoid(v)))  # noqa: E731
  l_gan = log_d(r) + log_1md(f) + log_1md(p)
  np.testing.assert_allclose(out["discriminator"], -l_gan, rtol=1e-5)
  np.testing.assert_allclose(out["decoder"], 0.25 * 4.0 + (log_1md(f) + log_1md(p)), rtol=1e-5)
  np.testing.assert_allclose(out["encoder"], 1.5 + 4.0, rtol=1e-6)
  ns = vae_losses.vaegan_losses(r, f, p, llike, kl, gamma=0.25, objective="non_saturating")
  np.testing.assert_allclose(ns["decoder"], 0.25 * 4.0 - (log_d(f) + log_d(p)), rtol=1e-5)
  beta = vae_losses.vaegan_losses(r, f, p, llike, kl, gamma=0.25, beta=3.0)
  np.testing.assert_allclose(beta["encoder"], 3.0 * 1.5 + 4.0, rtol=1e-6)
  np.testing.assert_allclose(beta["decoder"], ns["decoder"], rtol=1e-6)


def _d_and_params():
  d = dcgan.DCGAN28Discriminator(conv_impl="fast")
  x = jax.random.uniform(jax.random.key(4), (3, 28, 28, 1), minval=-1, maxval=1)
  return d, d.init(jax.random.key(5), x, None, train=False), x


def _manual_features(params, x, layer: int):
  """φ_l(x) of D's trunk written out: [Conv(4x4, s2, pad 1) -> LReLU 0.2] up to layer l."""
  h = x
  for i in range(layer + 1):
    p = params["params"][f"Conv_{i}"]
    conv = nn.Conv(p["kernel"].shape[-1], (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
    h = nn.leaky_relu(conv.apply({"params": p}, h), 0.2)
  return h.reshape((h.shape[0], -1))


@pytest.mark.parametrize("layer", [0, 1])
def test_feature_reconstruction_reads_d_layer_without_changing_d(layer):
  """``d_features`` returns D's own outputs (the read leaves them and D's parameters as they
  were) and the activations of trunk layer l; L_llike = ½‖φ_l(x̃) - φ_l(x)‖² and its gradient
  in x̃ is J_φ(x̃)ᵀ (φ_l(x̃) - φ_l(x)), independent of D's output head."""
  d, variables, x = _d_and_params()
  assert set(variables) == {"params"}  # the sow adds no collection to D's variables
  out, feats = vae_models.d_features(d, variables, x, layer)
  np.testing.assert_array_equal(out, d.apply(variables, x, None, train=True))
  np.testing.assert_allclose(feats, _manual_features(variables, x, layer), rtol=1e-4, atol=1e-5)
  x_tilde = jax.random.uniform(jax.random.key(6), x.shape, minval=-1, maxval=1)

  def llike(xt, variables):
    _, both = vae_models.d_features(d, variables, jnp.concatenate([x, xt]), layer)
    return jnp.sum(vae_losses.feature_reconstruction(both[3:], both[:3]))

  phi_real, (phi_fake, vjp) = (_manual_features(variables, x, layer),
                               jax.vjp(lambda v: _manual_features(variables, v, layer), x_tilde))
  np.testing.assert_allclose(llike(x_tilde, variables),
                             0.5 * jnp.sum((phi_fake - phi_real) ** 2), rtol=1e-4)
  (expected,) = vjp(phi_fake - phi_real)
  np.testing.assert_allclose(jax.grad(llike)(x_tilde, variables), expected, rtol=1e-3,
                             atol=1e-5)
  head = jax.tree.map(lambda v: v, variables)
  head["params"]["Dense_0"] = jax.tree.map(lambda v: v + 1.0, head["params"]["Dense_0"])
  assert float(llike(x_tilde, head)) == float(llike(x_tilde, variables))


def test_the_encoder_is_d_trunk_with_a_gaussian_head():
  """The encoder's conv layers have D's shapes (its widths), and its head gives (μ, log σ²)."""
  d, d_vars, x = _d_and_params()
  enc = vae_models.encoder_for(d, z_dim=8)
  e_vars = enc.init(jax.random.key(0), x, train=False)
  for i in range(2):
    assert (jax.tree.map(jnp.shape, e_vars["params"][f"Conv_{i}"])
            == jax.tree.map(jnp.shape, d_vars["params"][f"Conv_{i}"]))
  mean, logvar = enc.apply(e_vars, x, train=False)
  assert mean.shape == logvar.shape == (3, 8)


@pytest.mark.parametrize("field,value,match", [
    ("vae.likelihood", "poisson", "vae.likelihood"),
    ("model.name", "mlp", "model.name"),
    ("vae.feature_layer", 2, "vae.feature_layer"),
    ("objective", "wgan_gp", "objective"),
])
def test_bad_vae_configs_are_refused_in_one_line(field, value, match):
  from gan_jax.data import sources
  from tests.helpers import load_config

  c = load_config("experiments/vaegan_mnist.py")
  section, _, name = field.rpartition(".")
  (c[section] if section else c)[name] = value
  ds = sources.load_digits(28)
  with pytest.raises(ConfigError, match=match) as e:
    games.get("vaegan")(c, ds, num_devices=1)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("warmup,decay", [("tf", 0.1), ("none", 0.5)])
def test_decoder_ema_follows_config_ema_warmup(warmup, decay):
  """The VAE games' decoder EMA uses ``ema_warmup`` as the GAN does: at step 0, 'tf' caps
  ema_decay = 0.5 at (1 + 0)/(10 + 0) = 0.1; 'none' keeps 0.5."""
  from gan_jax.data import sources
  from tests.helpers import load_config

  c = load_config("experiments/vaegan_mnist.py")
  c.ema_decay, c.ema_warmup = 0.5, warmup
  game = games.get("vaegan")(c, sources.load_digits(28), num_devices=1)
  state = game.init_state(jax.random.key(0))
  new_params = jax.tree.map(lambda v: v + 1.0, state.g_params)
  ema = game._decoder_fields(state, new_params, state.g_batch_stats)["ema_g_params"]
  expected = jax.tree.map(lambda old, new: decay * old + (1 - decay) * new,
                          state.ema_g_params, new_params)
  for got, want in zip(jax.tree.leaves(ema), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
