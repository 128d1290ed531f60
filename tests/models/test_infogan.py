"""compare_gan's InfoGAN-style MNIST architecture (model.name='infogan28') and the Lucic et al.
sweep that uses it (experiments/lucic_table.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from gan_jax import configs, models
from gan_jax.errors import ConfigError
from gan_jax.sweeps import spec
from tests.helpers import load_config


def _models(**model):
  c = configs.base_config()
  c.model.update(name="infogan28", z_dim=64, **model)
  return models.get(c.model, example_shape=(28, 28, 1))


def test_infogan28_has_compare_gans_layers():
  g, d = _models()
  z = jnp.zeros((2, 64))
  gv = g.init(jax.random.key(0), z, train=False)
  x = g.apply(gv, z, train=False)
  dv = d.init(jax.random.key(1), x, train=False)
  assert x.shape == (2, 28, 28, 1) and d.apply(dv, x, train=False).shape == (2,)
  # G: 64·1024 + 1024·6272 + 4·4·128·64 + 4·4·64·1 + 1 (+ BN); D: 4·4·64 + 64 + 4·4·64·128 + 128
  # + 6272·1024 + 1024 + 1024 + 1 (+ BN).
  g_core = 64 * 1024 + 1024 * 6272 + 16 * 128 * 64 + 16 * 64 + 1
  d_core = 16 * 64 + 64 + 16 * 64 * 128 + 128 + 6272 * 1024 + 1024 + 1024 + 1
  g_bn = 2 * (1024 + 6272 + 64)
  assert models.count_params(gv["params"]) == g_core + g_bn
  assert models.count_params(dv["params"]) == d_core + 2 * (128 + 1024)
  assert d.norm == "batch" and _models(d_norm="none")[1].norm == "none"
  with pytest.raises(ConfigError, match="g_spectral_norm does not apply"):
    _models(g_spectral_norm=True)


@pytest.mark.parametrize("dataset,runs", [("mnist", 15), ("fashion_mnist", 10)])
def test_the_lucic_sweep_expands_to_valid_runs(dataset, runs):
  c = load_config("experiments/lucic_table.py", dataset)
  specs = spec.expand_sweep(c)
  assert len(specs) == runs and specs[0].name == "minimax_seed0"
  for s in specs:
    configs.validate(s.config, num_devices=1)
    assert s.config.train.inception_protocol == "tf_legacy"
    assert s.config.train.inception_reference_split == "test"
