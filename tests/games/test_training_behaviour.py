"""What a GAN update must do, checked against references the step functions do not share.

Update direction for every objective, the spectral norm of the projection embedding,
conditioning, the logged logit gradient, and a short ring run with the shipped recipe.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import losses, models
from gan_jax.data import sources
from gan_jax.evaluation import sampling
from gan_jax.models import dcgan, mlp
from gan_jax.training import experiment, loop
from tests.helpers import gan_players, load_config, mapped_d_step, mapped_g_step

B = 64  # Examples per update.


def _points(seed=0, n=B, shift=(2.0, 0.0)):
  return (np.random.default_rng(seed).normal(size=(n, 2)) + shift).astype(np.float32)


def _latents(seed=1, n=B, z_dim=2):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(n, z_dim)), jnp.float32)


def _leaves_equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                                                  strict=True))


# ---- Update direction ------------------------------------------------------------------------


@pytest.mark.parametrize("objective", losses.NAMES)
def test_one_update_lowers_the_players_loss(objective):
  """One D update lowers D's adversarial loss on the same reals and fakes, and one G update
  lowers G's loss on the same latents, both computed here from D's and G's outputs."""
  d = mlp.MLPDiscriminator(width=32, depth=2)
  gan, st = gan_players(d, objective=objective, lr=1e-3, gp_weight=0.1)
  obj = losses.get(objective)
  real, z = _points(), _latents()
  fake = gan.generator.apply({"params": st.g_params}, z)

  def d_loss(d_params):
    return float(obj.d_loss(d.apply({"params": d_params}, real), d.apply({"params": d_params},
                                                                         fake)))

  def g_loss(g_params):
    return float(obj.g_loss(d.apply({"params": st.d_params},
                                    gan.generator.apply({"params": g_params}, z))))

  after_d, _ = mapped_d_step(gan, st, {"x": real}, generated=(fake, None))
  assert _leaves_equal(after_d.g_params, st.g_params)
  assert d_loss(after_d.d_params) < d_loss(st.d_params) - 1e-5
  after_g, _ = mapped_g_step(gan, st, B, latents=(z, None))
  assert _leaves_equal(after_g.d_params, st.d_params)
  assert g_loss(after_g.g_params) < g_loss(st.g_params) - 1e-5


def _mode_distances(points, centers) -> np.ndarray:
  return np.linalg.norm(points[:, None] - centers[None], axis=-1).min(1)


@pytest.mark.slow
def test_a_short_ring_run_with_the_shipped_recipe_moves_samples_to_the_modes(tmp_path):
  """300 steps of experiments/mog.py (NS + R1, linear decay): the median distance of the
  samples to the nearest mode halves (1.60 -> 0.80 on this CPU), and a fifth of them (none at
  initialisation) lie within 0.5 of a mode."""
  config = load_config("experiments/mog.py")
  config.train.num_steps = 300
  config.train.log_every = config.train.sample_every = config.train.checkpoint_every = 300
  config.train.eval_at_end = False
  out = loop.train_and_evaluate(config, str(tmp_path))
  exp = experiment.build(config, num_devices=1)
  centers = exp.dataset.mode_centers
  before = _mode_distances(sampling.draw_samples(exp, exp.init_state(), 1000, 0)["samples"],
                           centers)
  after = _mode_distances(sampling.draw_samples(exp, out["state"], 1000, 0)["samples"], centers)
  assert np.median(before) > 1.0 and np.mean(before < 0.5) == 0.0
  assert np.median(after) < 0.6 * np.median(before) and np.mean(after < 0.5) > 0.1


# ---- Spectral normalisation of the projection embedding --------------------------------------
# (The EMA's formula and its skip, and spectral norm's power iteration per D step, are in
# test_steps.py.)


@pytest.mark.parametrize("name", ["mlp", "dcgan28"])
def test_spectral_norm_normalises_the_projection_embedding(name):
  """With spectral_norm, D's output is invariant to scaling the projection embedding table
  (E/σ(E) is), as for every other weight; without it the scale shows."""
  labels = jnp.arange(4) % 3
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)), jnp.float32)
  outputs = {}
  for sn in (False, True):
    model_config = ml_collections.ConfigDict(dict(
        name=name, width=8, depth=1, z_dim=2, spectral_norm=sn, conditioning="projection",
        embed_dim=4, conv_impl="stock"))
    _, d = models.get(model_config, example_shape=(28, 28, 1), num_classes=3)
    variables = jax.jit(lambda k, d=d: d.init(k, x, labels, train=False))(jax.random.key(0))
    scaled = jax.tree_util.tree_map_with_path(
        lambda p, v: 10.0 * v if "proj_embed" in jax.tree_util.keystr(p) and (
            p[0].key == "params") else v, variables)
    discriminate = jax.jit(lambda v, d=d: d.apply(v, x, labels, train=False))
    outputs[sn] = [np.asarray(discriminate(v)) for v in (variables, scaled)]
  np.testing.assert_allclose(*outputs[True], rtol=1e-5, atol=1e-6)
  assert not np.allclose(*outputs[False], rtol=1e-3)


# ---- Conditioning ----------------------------------------------------------------------------


def _image_models(conditioning: str):
  g = dcgan.DCGAN28Generator(out_shape=(28, 28, 1), channels=(16, 8), num_classes=3,
                             embed_dim=4, conv_impl="stock")
  d = dcgan.DCGAN28Discriminator(channels=(4, 8), num_classes=3, conditioning=conditioning,
                                 conv_impl="stock")
  return g, d


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
@pytest.mark.parametrize("kind", ["mlp", "dcgan"])
def test_g_and_d_outputs_depend_on_the_label(kind, conditioning):
  """G(z, c) ≠ G(z, c') for every example, and D(x, c) ≠ D(x, c') under each conditioning."""
  if kind == "mlp":
    g = mlp.MLPGenerator(out_shape=(2,), width=16, depth=1, num_classes=3)
    d = mlp.MLPDiscriminator(width=16, depth=1, num_classes=3, conditioning=conditioning)
  else:
    g, d = _image_models(conditioning)
  z = _latents(n=6, z_dim=4)
  c0, c1 = jnp.zeros(6, jnp.int32), jnp.ones(6, jnp.int32)
  g_vars = jax.jit(lambda k: g.init(k, z, c0, train=False))(jax.random.key(0))
  generate = jax.jit(lambda c: g.apply(g_vars, z, c, train=False))
  x0, x1 = generate(c0), generate(c1)
  assert np.all(np.abs(np.asarray(x0 - x1)).reshape(6, -1).max(1) > 1e-4)
  d_vars = jax.jit(lambda k: d.init(k, x0, c0, train=False))(jax.random.key(1))
  discriminate = jax.jit(lambda c: d.apply(d_vars, x0, c, train=False))
  d0, d1 = np.asarray(discriminate(c0)), np.asarray(discriminate(c1))
  assert np.all(np.abs(d0 - d1) > 1e-5)


def _labelled_points(n=200, num_classes=5):
  x = _points(n=n)
  y = (np.arange(n) % num_classes).astype(np.int32)
  return sources.Dataset("labelled_points", x, y, x[:20], y[:20], num_classes=num_classes)


def test_samples_have_label_i_mod_k_and_come_from_the_ema_generator():
  """draw_samples: label i % K for sample i, and sample i = G_ema(z_i, i % K) at the
  documented latents, not the raw G's."""
  config = load_config("experiments/tiny.py")
  config.conditional = True
  exp = experiment.build(config, num_devices=1, dataset=_labelled_points())
  st = exp.init_state()
  st = st.replace(ema_g_params=jax.tree.map(lambda p: 0.5 * p, st.g_params))
  out = sampling.draw_samples(exp, st, 23, seed=3)
  np.testing.assert_array_equal(out["labels"], np.arange(23) % 5)
  z, _ = sampling.fixed_latents(3, 23, config.model.z_dim, 5)
  labels = jnp.arange(23) % 5
  ema = exp.generator.apply({"params": st.ema_g_params}, z, labels, train=False)
  np.testing.assert_allclose(out["samples"], np.asarray(ema), rtol=1e-6, atol=1e-6)
  raw = exp.generator.apply({"params": st.g_params}, z, labels, train=False)
  assert not np.allclose(out["samples"], np.asarray(raw), atol=1e-3)


# ---- Diagnostics inside the real step --------------------------------------------------------


@pytest.mark.parametrize("objective, expected", [
    ("minimax", jax.nn.sigmoid), ("non_saturating", lambda a: 1.0 - jax.nn.sigmoid(a))])
def test_g_logit_grad_is_sigma_for_minimax_and_one_minus_sigma_for_ns(objective, expected):
  """The logged g_logit_grad is the mean |∂ℓ_G/∂a| over the fakes' logits a: σ(a) for minimax,
  1 - σ(a) for non-saturating (D's output bias is raised so that σ(a) ≈ 0.9 ≠ 1 - σ(a))."""
  d = mlp.MLPDiscriminator(width=16, depth=1)
  gan, st = gan_players(d, objective=objective)
  st = st.replace(d_params={**st.d_params, "Dense_1": {
      **st.d_params["Dense_1"], "bias": st.d_params["Dense_1"]["bias"] + 2.0}})
  z = _latents()
  logits = d.apply({"params": st.d_params}, gan.generator.apply({"params": st.g_params}, z))
  _, metrics = mapped_g_step(gan, st, B, latents=(z, None))
  want = float(jnp.mean(expected(logits)))
  assert abs(want - 0.5) > 0.3
  assert float(metrics["g_logit_grad"]) == pytest.approx(want, rel=1e-5)

