"""The StudioGAN CIFAR-10 families: parameter counts, output shapes, a few training steps.

Hand counts at the recipes' widths (3 channels, 10 classes; k·k·i·o + o for a conv with bias,
i·o + o for a linear, 2C for an affine (B/L)N, K·C for a bias-free linear of the one-hot label):

dcgan_cifar (cifar10_dcgan, w = 64), G 3,812,355:
  linear0 128·8192 + 8192 = 1,056,768; ConvT 4x4 512→256 2,097,408 + BN 512;
  256→128 524,416 + BN 256; 128→64 131,136 + BN 128; Conv 3x3 64→3 1,731.
D 2,931,009: block 3→64 (3x3) 1,792 + 64→64 (4x4) 65,600 + 2 BN 256; block 64→128 73,856 +
  262,272 + 512; block 128→256 295,168 + 1,048,832 + 1,024; Conv 3x3 256→512 1,180,160 + BN
  1,024; linear 513.
resnet32 (cifar10_wgan_gp, w = 64: G 256 channels, D 128), G 4,276,739:
  linear0 128·4096 + 4096 = 528,384; 3 GBlocks of [2 BN 1,024 + Conv1 65,792 + 2 Conv3
  590,080] = 1,246,976 each; BN 512; Conv 3x3 256→3 6,915.
D 1,055,879 (LayerNorm with BN's count): OptBlock Conv1 3→128 512 + Conv3 3→128 3,584 + Conv3
  147,584 + N(3) 6 + N(128) 256 = 151,942; DBlock(down) Conv1 16,512 + 2 Conv3 295,168 + 3 N 768
  = 312,448; 2 DBlocks of 295,168 + 512; linear 129.
resnet32 conditional, SN in D (cifar10_sngan), G 4,304,387: each of the 6 BNs becomes
  conditional, 2·10·256 = 5,120 instead of 512 (+27,648). D 1,055,105: no norms (−2,054) and
  the projection embedding 10·128 = 1,280.
biggan32 (cifar10_biggan, w = 96: G 384, D 192, z 80 = 4 chunks of 20), G 9,416,196:
  linear0 20·6144 + 6144 = 129,024; shared embedding 10·128 = 1,280; 3 GBlocks of [4 cBN
  linears 148·384 = 227,328 + Conv1 147,840 + 2 Conv3 1,327,488] = 3,030,144 each; attention
  at 384: 2·384·48 + 2·384·192 + 1 = 184,321; BN 768; Conv 3x3 384→3 10,371.
D 2,415,170: OptBlock 768 + 5,376 + 331,968; attention at 192: 46,081; DBlock(down) 37,056 +
  663,936; 2 DBlocks of 663,936; linear 193; projection 10·192 = 1,920.
These are the counts StudioGAN prints in logs/CIFAR10/{DCGAN,WGAN-GP,SNGAN,BigGAN}-train-*.log
(its WGAN-GP critic has BatchNorm, with the same count).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import models
from gan_jax.data import sampler, sources
from gan_jax.errors import ConfigError
from gan_jax.training import experiment, parallel
from tests.helpers import load_config

PAR = parallel.DataParallel("pmap", devices=jax.devices()[:1])
RECIPE_COUNTS = {  # recipe: (G params, D params)
    "cifar10_dcgan": (3_812_355, 2_931_009),
    "cifar10_wgan_gp": (4_276_739, 1_055_879),
    "cifar10_sngan": (4_304_387, 1_055_105),
    "cifar10_biggan": (9_416_196, 2_415_170),
}


def _synthetic(num: int = 64, classes: int = 10) -> sources.Dataset:
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (num, 32, 32, 3)).astype(np.float32)
  y = rng.integers(0, classes, num).astype(np.int32)
  return sources.Dataset("synthetic", x, y, x[:8], y[:8], num_classes=classes)


def _config(recipe: str, overrides: dict | None = None):
  """The recipe's config with dotted-field ``overrides``."""
  config = load_config(f"experiments/{recipe}.py")
  config.update_from_flattened_dict(overrides or {})
  return config


def _build(recipe: str, overrides: dict | None = None):
  config = _config(recipe, overrides)
  return config, experiment.build(config, num_devices=1, dataset=_synthetic())


@pytest.mark.parametrize("recipe", sorted(RECIPE_COUNTS))
def test_recipe_models_have_studiogans_parameter_counts_and_shapes(recipe):
  config, exp = _build(recipe)
  shapes = jax.eval_shape(exp.init_state)
  assert (models.count_params(shapes.g_params),
          models.count_params(shapes.d_params)) == RECIPE_COUNTS[recipe]
  n = 2
  z = jax.ShapeDtypeStruct((n, config.model.z_dim), jnp.float32)
  labels = jax.ShapeDtypeStruct((n,), jnp.int32) if exp.num_classes else None
  g_vars = {"params": shapes.g_params, "batch_stats": shapes.g_batch_stats}
  fake = jax.eval_shape(lambda v, z, y: exp.generator.apply(v, z, y, train=False),
                        g_vars, z, labels)
  assert fake.shape == (n, 32, 32, 3)
  d_vars = {"params": shapes.d_params, "batch_stats": shapes.d_batch_stats}
  out = jax.eval_shape(lambda v, x, y: exp.discriminator.apply(v, x, y, train=False),
                       d_vars, fake, labels)
  assert out.shape == (n,)


def test_conditioning_and_norm_options_change_the_counts_as_the_layer_list_says():
  """From the SNGAN recipe: concat adds 10 input channels to D's first two convs (3x3 and
  1x1: 10·128·(9 + 1)) in place of the projection table (10·128); 'none' drops the table;
  BatchNorm in D (no SN) adds the 2,054 norm parameters; G's SN adds no parameters."""
  def counts(**model):
    shapes = jax.eval_shape(_build("cifar10_sngan", {f"model.{k}": v for k, v in model.items()})[
        1].init_state)
    return models.count_params(shapes.g_params), models.count_params(shapes.d_params)

  g, d = counts()
  assert counts(conditioning="concat") == (g, d - 1280 + 12800)
  assert counts(conditioning="none") == (g, d - 1280)
  assert counts(spectral_norm=False) == (g, d + 2054)
  assert counts(g_spectral_norm=True) == (g, d)


def _train(recipe: str, overrides: dict, steps: int = 2):
  """``steps`` train steps at width 8, batch 4, n_critic 1; returns (first, last state, metrics)."""
  config = _config(recipe, {"model.width": 8, "train.batch_size": 4, "train.n_critic": 1,
                            **overrides})
  exp = experiment.build(config, num_devices=1, dataset=_synthetic())
  batch_fn = sampler.make_batch_fn(exp.dataset, batch_size=4, n_critic=1, seed=0,
                                with_labels=bool(exp.num_classes), random_flip=True)
  step = PAR.map_step(exp.steps.train_step, donate_state=False)
  first = PAR.put_state(exp.init_state())
  state, history = first, []
  for s in range(steps):
    state, metrics = step(state, PAR.put_batch(batch_fn(s)), jax.random.key(0))
    history.append(PAR.fetch(metrics))
  return PAR.get_state(first), PAR.get_state(state), history


def _changed(a, b) -> bool:
  return not jax.tree.all(jax.tree.map(lambda u, v: bool(jnp.array_equal(u, v)), a, b))


# Three compiles (~40 s of CPU each) cover the families: BatchNorm and concat conditioning in
# D with G's SN and conditional BN; the LayerNorm critic with the gradient penalty; SN in G and
# D, hierarchical z, attention, projection and DiffAugment. (The SNGAN recipe's resnet32 with
# one-hot conditional BN and the unconditional DCGAN train the same way; dropped for time.)
@pytest.mark.slow
@pytest.mark.parametrize("recipe,overrides", [
    ("cifar10_dcgan", {"conditional": True, "model.conditioning": "concat",
                       "model.g_spectral_norm": True}),
    ("cifar10_wgan_gp", {}),
    ("cifar10_biggan", {"model.z_dim": 8, "reg.diffaug": "color,translation,cutout"}),
], ids=["dcgan_cond_concat_gsn", "wgan_gp", "biggan_diffaug"])
def test_recipe_trains_a_few_steps_with_finite_losses(recipe, overrides):
  first, last, history = _train(recipe, overrides)
  for m in history:
    assert np.isfinite(m["d_loss"]) and np.isfinite(m["g_loss"]), m
    assert m["d_nonfinite"] == 0 and m["g_nonfinite"] == 0
  assert _changed(first.g_params, last.g_params) and _changed(first.d_params, last.d_params)
  # BN statistics and spectral-norm vectors are state that the training forward passes update.
  assert _changed(first.g_batch_stats, last.g_batch_stats)
  if first.d_batch_stats:
    assert _changed(first.d_batch_stats, last.d_batch_stats)


def test_model_options_are_checked():
  with pytest.raises(ConfigError, match="model.z_dim=81 must be divisible by 4"):
    _build("cifar10_biggan", {"model.z_dim": 81})
  with pytest.raises(ConfigError, match="model.d_norm='group' is unknown"):
    _build("cifar10_sngan", {"model.d_norm": "group"})
  with pytest.raises(ConfigError, match="reg.diffaug='color,flip' has unknown transforms"):
    _build("cifar10_sngan", {"reg.diffaug": "color,flip"})
  config = load_config("experiments/cgan.py")
  config.model.g_spectral_norm = True
  with pytest.raises(ConfigError, match="apply to model.name in dcgan_cifar"):
    experiment.build(config, num_devices=1)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["cifar10_sngan", "cifar10_biggan"])
def test_the_conditional_generators_batchnorm_follows_each_examples_label(recipe):
  """G(z, c) of the conditional recipes: changing one example's label changes that example's
  image (its conditional BatchNorm sees c), and only its own (running statistics: no coupling)."""
  config, exp = _build(recipe, {"model.width": 16} if recipe == "cifar10_sngan" else
                       {"model.width": 8})
  state = exp.init_state()
  variables = {"params": state.g_params, "batch_stats": state.g_batch_stats}
  z = jax.random.normal(jax.random.key(0), (4, config.model.z_dim))
  labels = jnp.asarray([0, 1, 2, 3])
  changed = labels.at[2].set(7)
  a = np.asarray(exp.generator.apply(variables, z, labels, train=False))
  b = np.asarray(exp.generator.apply(variables, z, changed, train=False))
  diff = np.abs(a - b).reshape(4, -1).max(axis=1)
  assert diff[2] > 1e-3, diff
  assert np.all(diff[[0, 1, 3]] == 0.0), diff
