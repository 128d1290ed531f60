"""Which generator the sampling tools use: EMA params with BatchNorm statistics of their own."""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import models
from gan_jax.data import sources
from gan_jax.evaluation import sampling
from gan_jax.training import experiment
from tests.helpers import load_config


@pytest.fixture(scope="module")
def cgan():
  """The cgan.py experiment with an EMA, live G and BatchNorm statistics that all differ."""
  config = load_config("experiments/cgan.py")
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, size=(128, 28, 28, 1)).astype(np.float32)
  y = np.arange(128) % 10
  exp = experiment.build(config, num_devices=1, dataset=sources.Dataset(
      "synthetic", x, y, x[:32], y[:32], num_classes=10))
  s = exp.init_state()
  shift = lambda tree, by: jax.tree.map(lambda a: a + by, tree)  # noqa: E731
  s = s.replace(ema_g_params=jax.tree.map(lambda p: 1.5 * p, s.g_params),
                g_batch_stats=shift(s.g_batch_stats, 0.3),
                ema_g_batch_stats=shift(s.g_batch_stats, 0.7))
  return exp, s


def _first_layer_stats(exp, params, z, labels):
  """Mean and biased variance over the batch of G's first Dense output (BatchNorm_0's input)."""
  stats = jax.tree.map(jnp.zeros_like, exp.init_state().g_batch_stats)
  _, inter = exp.generator.apply({"params": params, "batch_stats": stats}, z, labels,
                                 train=False, capture_intermediates=True)
  h = np.asarray(inter["intermediates"]["Dense_0"]["__call__"][0], np.float64)
  return h.mean(0), h.var(0)


@pytest.mark.slow
def test_standing_statistics_are_those_of_the_ema_weights(cgan):
  exp, s = cgan
  variables = sampling.sampling_variables(exp, s)
  assert variables["params"] is s.ema_g_params
  n = sampling.STANDING_BATCHES * sampling.STANDING_BATCH_SIZE
  z, labels = sampling.fixed_latents(exp.config.seed + 104729, n, exp.config.model.z_dim,
                                     exp.num_classes)
  mean, var = _first_layer_stats(exp, s.ema_g_params, z, labels)
  bn0 = variables["batch_stats"]["BatchNorm_0"]
  np.testing.assert_allclose(bn0["mean"], mean, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(bn0["var"], var, rtol=1e-4, atol=1e-5)
  live_mean, _ = _first_layer_stats(exp, s.g_params, z, labels)
  assert np.abs(live_mean - mean).max() > 1e-2  # the raw G's statistics differ
  # The deeper layer: as one train-mode pass over all the latents would give them (pooling
  # batches that each normalised by their own statistics is close, not equal).
  _, one_pass = exp.generator.clone(bn_momentum=0.0, axis_name=None).apply(
      {"params": s.ema_g_params, "batch_stats": s.g_batch_stats}, z, labels, train=True,
      mutable=["batch_stats"])
  for k in ("mean", "var"):
    np.testing.assert_allclose(variables["batch_stats"]["BatchNorm_1"][k],
                               one_pass["batch_stats"]["BatchNorm_1"][k], rtol=0.05, atol=2e-3)


@pytest.mark.parametrize("mode", ["standing", "ema", "live"])
def test_sample_and_evaluate_use_the_documented_generator(cgan, mode):
  """gan_jax.sample's draw_samples and evaluate's samples are G(EMA params, stats of ``mode``)."""
  exp, s = cgan
  exp.config.unlock()
  exp.config.ema_bn_stats = mode
  try:
    expected_stats = {"ema": s.ema_g_batch_stats, "live": s.g_batch_stats,
                      "standing": sampling.standing_batch_stats(
                          exp.generator, {"params": s.ema_g_params,
                                          "batch_stats": s.g_batch_stats},
                          z_dim=exp.config.model.z_dim, num_classes=exp.num_classes)}[mode]
    variables = {"params": s.ema_g_params, "batch_stats": expected_stats}
    z, labels = sampling.fixed_latents(0, 20, exp.config.model.z_dim, exp.num_classes)
    drawn = sampling.draw_samples(exp, s, 20, seed=0)
    np.testing.assert_array_equal(drawn["labels"], np.arange(20) % 10)
    expected = exp.generator.apply(variables, z, labels, train=False)
    np.testing.assert_allclose(drawn["images"], expected, rtol=1e-5, atol=1e-5)
  finally:
    exp.config.ema_bn_stats = "standing"


def test_generate_compiles_once_per_generator_and_pads_the_ragged_last_batch():
  """make_generate_fn returns the one jitted G of a generator; 7 rows in batches of 3 run as
  three batches of 3 (one compile), the last padded, and equal G of each row alone."""
  from gan_jax.models import mlp

  g = mlp.MLPGenerator(out_shape=(2,), width=8, depth=1, num_classes=3)
  z = np.asarray(jax.random.normal(jax.random.key(0), (7, 4)))
  labels = np.arange(7) % 3
  variables = g.init(jax.random.key(1), z[:1], labels[:1], train=False)
  fn = sampling.make_generate_fn(g)
  assert sampling.make_generate_fn(mlp.MLPGenerator(out_shape=(2,), width=8, depth=1,
                                                     num_classes=3)) is fn
  out = sampling.generate(fn, variables, z, labels, batch_size=3)
  assert out.shape == (7, 2) and fn._cache_size() == 1
  rows = np.concatenate([np.asarray(g.apply(variables, z[i:i + 1], labels[i:i + 1],
                                            train=False)) for i in range(7)])
  np.testing.assert_allclose(out, rows, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", models.NAMES)
def test_every_generator_with_batchnorm_gives_standing_statistics(name):
  """BigGAN's recipe (EMA, standing statistics, G spectrally normalised) on any model:
  ``standing_batch_stats`` clones G with BatchNorm momentum 0, so after a train pass every
  BatchNorm's running statistics are that batch's own, whatever they were before the pass; the
  statistics it returns keep G's spectral-norm vectors, and G samples with them."""
  from gan_jax import configs

  config = configs.base_config()
  config.model.name, config.model.width, config.model.z_dim = name, 4, 8
  config.model.g_spectral_norm = name in models.STUDIOGAN_MODELS
  shape = (*models.IMAGE_SHAPES[name], 3) if name in models.IMAGE_SHAPES else (2,)
  if name == "stylegan2":  # any square image; no BatchNorm
    config.model.update(w_dim=8, channel_base=64, channel_max=8)
    shape = (8, 8, 3)
  generator, _ = models.get(config.model, example_shape=shape, num_classes=10)
  z, labels = sampling.fixed_latents(0, 16, 8, 10)
  variables = generator.init(jax.random.key(0), z, labels, train=False)
  if "batch_stats" not in variables:
    assert name in ("mlp", "stylegan2")
    return
  flat = flax.traverse_util.flatten_dict(variables["batch_stats"])
  is_bn = lambda path: path[-1] in ("mean", "var")  # noqa: E731 - the rest: SN's u and sigma
  assert any(map(is_bn, flat)) and (not all(map(is_bn, flat))) == config.model.g_spectral_norm
  exact = generator.clone(bn_momentum=0.0, axis_name=None)
  after = []
  for v in (0.0, 5.0):
    stats = flax.traverse_util.unflatten_dict(
        {p: x * 0 + v if is_bn(p) else x for p, x in flat.items()})
    _, new = exact.apply({**variables, "batch_stats": stats}, z, labels, train=True,
                         mutable=["batch_stats"])
    after.append({p: x for p, x in flax.traverse_util.flatten_dict(new["batch_stats"]).items()
                  if is_bn(p)})
  for p in after[0]:
    np.testing.assert_allclose(after[0][p], after[1][p], rtol=1e-5, atol=1e-6, err_msg=str(p))
  standing = sampling.standing_batch_stats(generator, variables, z_dim=8, num_classes=10)
  assert jax.tree.structure(standing) == jax.tree.structure(variables["batch_stats"])
  images = generator.apply({**variables, "batch_stats": standing}, z, labels, train=False)
  assert np.isfinite(np.asarray(images)).all()
