"""Random flips in the batch sampler, and DiffAugment: determinism, adjoints, the step wiring."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.data import sampler, sources
from gan_jax.errors import ConfigError
from gan_jax.games import gan_state, gan_steps
from gan_jax.ops import augment
from gan_jax.training import parallel

PAR = parallel.DataParallel("pmap", devices=jax.devices()[:1])


def _images(n=16, seed=0):
  x = np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 3)).astype(np.float32)
  return sources.Dataset("synthetic", x, None, x[:2], None)


def test_flips_mirror_about_half_the_images_as_a_function_of_seed_and_step():
  ds = _images(64)
  plain = sampler.make_batch_fn(ds, batch_size=32, n_critic=2, seed=3)
  flipped = sampler.make_batch_fn(ds, batch_size=32, n_critic=2, seed=3, random_flip=True)
  x, f = plain(5)["x"], flipped(5)["x"]
  mirrored = np.all(f == x[:, :, :, ::-1], axis=(2, 3, 4))
  assert np.all(mirrored | np.all(f == x, axis=(2, 3, 4)))  # each image: as is or mirrored
  assert 16 <= mirrored.sum() <= 48  # of 64 fair coins
  # Resume-exact: a fresh sampler (a resumed run) draws the same flips at the same step.
  fresh = sampler.make_batch_fn(ds, batch_size=32, n_critic=2, seed=3, random_flip=True)
  np.testing.assert_array_equal(fresh(5)["x"], f)
  again = np.all(flipped(6)["x"] == plain(6)["x"][:, :, :, ::-1], axis=(2, 3, 4))
  assert not np.array_equal(again, mirrored)
  # Each process flips its own slice of the global batch exactly as one process would.
  parts = [sampler.make_batch_fn(ds, batch_size=32, n_critic=2, seed=3, random_flip=True,
                              process_index=i, process_count=2)(5)["x"] for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(parts), f)


def test_random_flip_needs_images():
  from gan_jax import configs

  config = configs.use_ring(configs.base_config())
  config.data.random_flip = True
  with pytest.raises(ConfigError, match="data.random_flip=True needs an image dataset"):
    configs.validate_against_data(config, sources.load_dataset(config.data))


POLICY = "color,translation,cutout"


def test_diffaugment_is_deterministic_by_key_and_per_image():
  x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
  keys = jax.random.split(jax.random.key(1), 4)
  y = augment.diff_augment(x, keys, POLICY)
  np.testing.assert_array_equal(y, augment.diff_augment(x, keys, POLICY))
  assert not np.allclose(y, augment.diff_augment(x, jax.random.split(jax.random.key(2), 4),
                                                 POLICY))
  # Image n depends on (x_n, key_n) only.
  np.testing.assert_allclose(y[2], augment.augment_image(x[2], keys[2], POLICY), atol=1e-6)
  assert augment.diff_augment(x, keys, "") is x
  with pytest.raises(ConfigError, match="valid: comma-separated color, translation, cutout"):
    augment.parse_policy("color,rotate")


def test_translation_and_cutout_shift_and_zero_as_specified():
  x = jnp.arange(1.0, 1.0 + 32 * 32).reshape(32, 32, 1)
  for seed in range(8):
    key = jax.random.key(seed)
    t = augment.translation(x, key)
    # Some shift (a, b) with |a|, |b| <= 4 reproduces t, zero-filled.
    found = [(a, b) for a in range(-4, 5) for b in range(-4, 5) if np.array_equal(
        t, jnp.pad(x, ((4, 4), (4, 4), (0, 0)))[4 + a:36 + a, 4 + b:36 + b])]
    assert len(found) == 1
    c = augment.cutout(x, key)
    zeros = np.asarray(c == 0)[..., 0]
    rows, cols = np.where(zeros)
    assert 8 * 8 <= zeros.sum() <= 16 * 16  # a 16x16 square, clipped at the border
    assert zeros.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    np.testing.assert_array_equal(np.asarray(c)[~zeros], np.asarray(x)[~zeros])


def test_diffaugment_gradient_is_the_adjoint():
  """T is differentiable: for the linear transforms (translation, cutout) ⟨T(x), w⟩ = ⟨x, ∇⟩;
  with colour, ∇ matches central differences."""
  x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
  w = jax.random.normal(jax.random.key(1), x.shape)
  keys = jax.random.split(jax.random.key(2), 2)
  for policy in ("translation", "cutout", "translation,cutout"):
    f = lambda x, policy=policy: jnp.sum(augment.diff_augment(x, keys, policy) * w)  # noqa: E731
    np.testing.assert_allclose(f(x), jnp.sum(x * jax.grad(f)(x)), rtol=1e-5)
  f = lambda x: jnp.sum(augment.diff_augment(x, keys, POLICY) * w)  # noqa: E731
  d = jax.random.normal(jax.random.key(3), x.shape)
  eps = 1e-2
  numeric = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
  np.testing.assert_allclose(jnp.sum(jax.grad(f)(x) * d), numeric, rtol=2e-3)


class _ConstantG(nn.Module):
  """G(z) = a constant image of value p (one parameter)."""

  @nn.compact
  def __call__(self, z, labels=None, *, train=True):
    p = self.param("p", nn.initializers.constant(0.5), ())
    return jnp.full((z.shape[0], 32, 32, 3), 1.0) * p


_SEEN = []  # the inputs _SpyD was called with


class _SpyD(nn.Module):
  """D(x) = mean(x · w) per image, recording every input it is called with in _SEEN."""

  @nn.compact
  def __call__(self, x, labels=None, *, train=True):
    jax.debug.callback(lambda v: _SEEN.append(np.asarray(v)), x)
    w = self.param("w", nn.initializers.ones_init(), (1,))
    return jnp.mean(x * w, axis=(1, 2, 3))


def test_diffaugment_reaches_d_on_real_and_fake_and_g_through_it():
  """With reg.diffaug='cutout' every image D sees in the D step (real and fake halves) and in
  the G step has a zeroed square (un-augmented they have no zero pixel); G's gradient flows
  through T."""
  seen = _SEEN
  g, d = _ConstantG(), _SpyD()
  tx = gan_state.make_optimizers(_optim())
  cfg = gan_steps.StepConfig(objective="non_saturating", num_devices=1, z_dim=2, diffaug="cutout")
  gan = gan_steps.bind(generator=g, discriminator=d, optimizers=tx, cfg=cfg)
  s = gan_state.create_state(jax.random.key(0), generator=g, discriminator=d, optimizers=tx,
                             z_dim=2, example_shape=(32, 32, 3))
  seen.clear()
  batch = {"x": np.ones((4, 1, 32, 32, 3), np.float32)}
  new, metrics = PAR.map_step(gan.train_step, donate_state=False)(
      PAR.put_state(s), PAR.put_batch(batch), jax.random.key(1))
  jax.block_until_ready(new)
  assert len(seen) == 2
  d_input, g_input = sorted(seen, key=len, reverse=True)  # D step: real + fake; G step: fake
  assert d_input.shape[0] == 8 and g_input.shape[0] == 4
  for images in (d_input[:4], d_input[4:], g_input):
    zeros = (images == 0).all(-1).sum(axis=(1, 2))
    assert np.all((zeros >= 64) & (zeros <= 256)), zeros
  assert float(PAR.fetch(metrics)["g_grad_norm"]) > 0


def _optim():
  import ml_collections

  return ml_collections.ConfigDict(dict(g_lr=1e-3, d_lr=1e-3, b1=0.5, b2=0.999,
                                        schedule="constant"))
