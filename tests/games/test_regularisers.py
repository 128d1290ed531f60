"""Each regulariser of gan_jax.steps acts as its formula says, on small MLP players in-process.

The D updates run through ``gan_steps.d_update`` mapped like the trainer maps it (pmap, 1 device).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import losses, models
from gan_jax.games import gan_steps
from gan_jax.models import mlp
from gan_jax.training import parallel
from tests.helpers import gan_players, mapped_d_step

N = 2048  # Real examples per D update: enough for noise statistics within a few percent.
PAR = parallel.DataParallel("pmap", devices=jax.devices()[:1])
SEEN = []  # The inputs a RecordingCritic was last called with (host copies).


class RecordingCritic(nn.Module):
  """D(x) = w·x + b that records every input it is called with (through a host callback)."""

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    jax.debug.callback(lambda v: SEEN.append(np.asarray(v)), x)
    return nn.Dense(1)(x)[:, 0]


class QuadraticCritic(nn.Module):
  """D(x, c) = s_c·‖x‖²/2, so ∇ₓD = s_c·x depends on the point (s_c = ``scales[c]``; c = 0
  when unconditional), and D's outputs on real and fake points differ."""

  scales: tuple = (1.0,)

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    s = self.param("s", lambda *_: jnp.asarray(self.scales, jnp.float32))
    scale = s[0] if labels is None else s[labels]
    return 0.5 * scale * jnp.sum(jnp.square(x), axis=-1)


class ConstantGenerator(nn.Module):
  """G(z, c) = ``point`` for every z and c."""

  point: tuple = (1.0, 0.0)

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    offset = self.param("offset", nn.initializers.zeros, (len(self.point),))
    return jnp.asarray(self.point) + offset + 0.0 * z[:, :1]


def _d_step(gan, st, x, key=1, y=None):
  """One mapped D update on the real batch ``x`` (labels ``y``): (new state, host metrics)."""
  batch = {"x": jnp.asarray(x)} if y is None else {"x": jnp.asarray(x), "y": jnp.asarray(y)}
  return mapped_d_step(gan, st, batch, key)


def _real_batch():
  return np.random.default_rng(0).normal(size=(N, 2)).astype(np.float32)


def _d_inputs(std: float, anneal_steps: int, step: int) -> np.ndarray:
  """The (real; fake) batch D sees in a D update at ``step`` with instance noise ``std``."""
  gan, st = gan_players(RecordingCritic(), instance_noise_std=std,
                     instance_noise_anneal_steps=anneal_steps)
  SEEN.clear()
  _d_step(gan, st.replace(step=jnp.asarray(step, jnp.int32)), _real_batch())
  jax.effects_barrier()
  assert len(SEEN) == 1 and SEEN[0].shape == (2 * N, 2)
  return SEEN[0]


# ---- Instance noise --------------------------------------------------------------------------


def test_instance_noise_schedule():
  """σ(t) = σ₀·max(0, 1 - t/T), exactly 0 from t = T on (under jit too); σ₀ when T = 0."""
  schedule = jax.jit(gan_steps.instance_noise_std, static_argnums=(1, 2))
  sigma = lambda t, T: float(schedule(jnp.asarray(t, jnp.int32), 0.2, T))  # noqa: E731
  assert [sigma(t, 100) for t in (0, 25, 50)] == pytest.approx([0.2, 0.15, 0.1])
  assert [sigma(t, T) for t, T in ((100, 100), (150, 100), (2500, 2500), (7, 7))] == [0.0] * 4
  assert sigma(10**6, 0) == pytest.approx(0.2)


@pytest.mark.parametrize("step, expected_std", [(0, 0.5), (50, 0.25)])
def test_instance_noise_is_added_to_d_inputs(step, expected_std):
  """Early in annealing, D's real and fake inputs are the clean ones + N(0, σ(t)²) noise."""
  clean = _d_inputs(0.0, 0, step)
  np.testing.assert_array_equal(clean[:N], _real_batch())
  noise = _d_inputs(0.5, 100, step) - clean  # same key: same fakes, so the difference is noise
  for half in (noise[:N], noise[N:]):
    assert half.std() == pytest.approx(expected_std, rel=0.05)
    assert abs(half.mean()) < 4 * expected_std / np.sqrt(half.size)


@pytest.mark.parametrize("step", [100, 1000])
def test_instance_noise_is_gone_after_annealing(step):
  """σ = 0 at and after anneal_steps: D sees what it sees without instance noise.

  The real half is bitwise equal; G's fakes only up to float rounding, as the two programs
  compile (and fuse) differently.
  """
  annealed, clean = _d_inputs(0.5, 100, step), _d_inputs(0.0, 0, step)
  np.testing.assert_array_equal(annealed[:N], clean[:N])
  np.testing.assert_allclose(annealed[N:], clean[N:], rtol=0, atol=1e-6)


# ---- Weight clipping -------------------------------------------------------------------------


def test_weight_clipping_bounds_every_d_weight():
  """After a D update with weight_clip=c, every D parameter lies in [-c, c] (and some at ±c)."""
  c = 0.01
  d = mlp.MLPDiscriminator(width=16, depth=2)
  gan, st = gan_players(d, lr=0.1, objective="wgan", weight_clip=c)
  new, _ = _d_step(gan, st, _real_batch())
  leaves = [np.asarray(w) for w in jax.tree.leaves(new.d_params)]
  assert max(np.abs(w).max() for w in leaves) == pytest.approx(c)
  assert all(np.all(np.abs(w) <= c) for w in leaves)
  unclipped, _ = _d_step(*gan_players(d, lr=0.1, objective="wgan"), _real_batch())
  assert max(np.abs(np.asarray(w)).max() for w in jax.tree.leaves(unclipped.d_params)) > 10 * c


# ---- Gradient penalties on a critic whose input gradient depends on the point --------------
# Real points all at r = (3, 0), G's fakes all at f = (1, 0), D(x) = ‖x‖²/2 (∇ₓD = x):
# on the reals ‖∇D‖ = 3, on the fakes 1, on x̂ = r + α(f - r) it is 3 - 2α.

REAL, FAKE = (3.0, 0.0), (1.0, 0.0)


def _quadratic_players(scales=(1.0,), num_classes=0, **step_config):
  return gan_players(QuadraticCritic(scales), generator=ConstantGenerator(FAKE),
                     num_classes=num_classes, **step_config)


def _far_reals():
  return np.broadcast_to(np.asarray(REAL, np.float32), (N, 2))


def test_r1_is_the_squared_gradient_norm_at_the_real_points():
  """R1 = E‖∇ₓD(x_real)‖² = 9 (1 at the fakes, ≈ 4.3 at interpolates): d_loss grows by γ/2·9."""
  gamma = 4.0
  plain, st = _quadratic_players()
  with_r1, _ = _quadratic_players(r1_weight=gamma)
  _, m0 = _d_step(plain, st, _far_reals())
  _, m1 = _d_step(with_r1, st, _far_reals())
  assert float(m1["r1"]) == pytest.approx(9.0, rel=1e-5)
  assert float(m1["d_loss"]) - float(m0["d_loss"]) == pytest.approx(0.5 * gamma * 9.0, rel=1e-5)


def test_gradient_penalty_is_taken_at_the_interpolates():
  """E_α (‖∇D(x̂)‖ - 1)² = E (2 - 2α)² = 4/3 for α ~ U[0, 1) (4 at the reals, 0 at the fakes),
  weighted by λ."""
  gan, st = _quadratic_players(objective="wgan_gp", gp_weight=10.0)
  _, m = _d_step(gan, st, _far_reals())
  assert float(m["gp"]) == pytest.approx(4.0 / 3.0, rel=0.08)  # N = 2048 draws of α
  assert float(m["d_loss"]) - float(m["d_adv_loss"]) == pytest.approx(
      10.0 * float(m["gp"]), rel=1e-5)


def test_gradient_penalty_and_r1_use_the_real_labels():
  """Conditional D(x, c) = s_c‖x‖²/2 with s_0 = 1 and s_c = 1/4 otherwise: with every real label
  0, the penalties are those of s = 1 whatever labels G's fakes were drawn with."""
  scales = (1.0, 0.25, 0.25, 0.25)
  real_labels = np.zeros(N, np.int32)
  gan, st = _quadratic_players(scales, num_classes=4, objective="wgan_gp", gp_weight=1.0,
                               r1_weight=1.0)
  _, m = _d_step(gan, st, _far_reals(), y=real_labels)
  assert float(m["gp"]) == pytest.approx(4.0 / 3.0, rel=0.08)  # s = 1/4 would give ≈ 0.27
  assert float(m["r1"]) == pytest.approx(9.0, rel=1e-5)
  # D itself sees the fakes with their own labels: its mean output on them is not s_0·|f|²/2.
  assert float(m["d_fake"]) < 0.5 * 0.6 * 1.0


# ---- Spectral normalisation ------------------------------------------------------------------


def test_spectral_norm_makes_each_d_layer_1_lipschitz():
  """After a few D updates (one power iteration each), W/σ̂ has top singular value ≈ 1."""
  model_config = ml_collections.ConfigDict(dict(
      name="mlp", width=32, depth=2, z_dim=2, spectral_norm=True, conditioning="projection",
      embed_dim=8))
  _, d = models.get(model_config, example_shape=(2,))
  gan, st = gan_players(d, lr=1e-4)
  d_step = PAR.map_step(gan.d_update, donate_state=False)
  dev = PAR.put_state(st)
  batch = PAR.put_batch({"x": jnp.asarray(_real_batch()[:256])})
  for i in range(30):
    dev, _ = d_step(dev, batch, jax.random.key(i))
  st = PAR.get_state(dev)
  stats = jax.device_get(st.d_batch_stats)
  layers = sorted(k for k in st.d_params if k.startswith("Dense_"))
  assert len(layers) == 3
  for layer in layers:
    sn = next(v for v in stats.values() if f"{layer}/kernel/sigma" in v)
    kernel = np.asarray(st.d_params[layer]["kernel"])
    top = np.linalg.svd(kernel, compute_uv=False)[0]
    assert float(sn[f"{layer}/kernel/sigma"]) == pytest.approx(top, rel=0.02), layer
    assert top / float(sn[f"{layer}/kernel/sigma"]) == pytest.approx(1.0, abs=0.02)
  # The whole D is then 1-Lipschitz: LeakyReLU is, and so is each normalised layer.
  variables = {"params": st.d_params, "batch_stats": st.d_batch_stats}
  grad = jax.grad(lambda x: d.apply(variables, x[None], train=False)[0])
  x = jnp.asarray(_real_batch()[:64])
  norms = np.linalg.norm(np.asarray(jax.vmap(grad)(x)), axis=-1)
  assert norms.max() <= 1.02


# ---- One-sided label smoothing ---------------------------------------------------------------


def _bce(logit, target):
  """Cross-entropy of sigmoid(logit) against a target probability."""
  return target * np.logaddexp(0.0, -logit) + (1 - target) * np.logaddexp(0.0, logit)


@pytest.mark.parametrize("objective", ["non_saturating", "minimax"])
def test_label_smoothing_sets_real_target_to_one_minus_eps(objective):
  """d_loss = CE(D(x), 1-ε) + CE(D(G(z)), 0) with D(x) = 4.5 on the reals and 0.5 on the fakes:
  only the real target moves (one-sided), and the halves cannot be swapped."""
  eps, real_logit, fake_logit = 0.1, 4.5, 0.5
  _, m_plain = _d_step(*_quadratic_players(objective=objective), _far_reals())
  _, m_smooth = _d_step(*_quadratic_players(objective=objective, label_smoothing=eps),
                        _far_reals())
  assert float(m_plain["d_loss"]) == pytest.approx(
      _bce(real_logit, 1.0) + _bce(fake_logit, 0.0), rel=1e-5)
  assert float(m_smooth["d_loss"]) == pytest.approx(
      _bce(real_logit, 1 - eps) + _bce(fake_logit, 0.0), rel=1e-5)
  obj = losses.get(objective)
  real = jnp.array([-1.0, 0.5, 2.0])
  fake = jnp.array([0.3, -2.0, 1.0])
  expected = np.mean(_bce(np.asarray(real), 1 - eps)) + np.mean(_bce(np.asarray(fake), 0.0))
  assert float(obj.d_loss(real, fake, label_smoothing=eps)) == pytest.approx(expected, rel=1e-5)


# ---- Penalties on a BatchNorm D --------------------------------------------------------------


class BatchNormCritic(nn.Module):
  """D(x) = Dense(tanh(BatchNorm(Dense(x)))): batch statistics in train mode."""

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(nn.Dense(8)(x))
    return nn.Dense(1)(nn.tanh(h))[:, 0]


@pytest.mark.slow
def test_gradient_penalty_and_r1_of_a_batchnorm_d_use_batch_statistics():
  """GP and R1 are taken on the D the adversarial loss sees (train mode: batch statistics, as
  StudioGAN's), not on D with its running averages; the penalties leave D's running statistics
  as the adversarial forward passes set them. With G's fakes = the reals, every interpolate x̂ is
  a real point, so GP = E(‖∇D(x)‖ - 1)² there whatever α."""
  d = BatchNormCritic()
  reals = (3.0 + 0.5 * _real_batch()[:256]).astype(np.float32)  # far from the init mean 0, var 1
  plain, st = gan_players(d, objective="wgan_gp", gp_weight=0.0)
  penalised, _ = gan_players(d, objective="wgan_gp", gp_weight=1.0, r1_weight=1.0)
  new_plain, _ = mapped_d_step(plain, st, {"x": jnp.asarray(reals)}, generated=(reals, None))
  new, m = mapped_d_step(penalised, st, {"x": jnp.asarray(reals)}, generated=(reals, None))

  def critic(train: bool):
    variables = {"params": st.d_params, "batch_stats": st.d_batch_stats}
    if train:
      return lambda x: d.apply(variables, x, train=True, mutable=["batch_stats"])[0]
    return lambda x: d.apply(variables, x, train=False)

  x = jnp.asarray(reals)
  grads = {t: np.asarray(jax.grad(lambda v, t=t: jnp.sum(critic(t)(v)))(x)) for t in (True, False)}
  r1 = {t: float(np.mean(np.sum(g ** 2, -1))) for t, g in grads.items()}
  gp = {t: float(np.mean((np.linalg.norm(g, axis=-1) - 1) ** 2)) for t, g in grads.items()}
  assert abs(r1[True] - r1[False]) > 0.5 * r1[True]  # the two modes differ here
  assert float(m["r1"]) == pytest.approx(r1[True], rel=1e-4)
  assert float(m["gp"]) == pytest.approx(gp[True], rel=1e-4)
  for a, b in zip(jax.tree.leaves(new.d_batch_stats), jax.tree.leaves(new_plain.d_batch_stats),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ---- R1 through DiffAugment ------------------------------------------------------------------


class ImageQuadraticCritic(nn.Module):
  """D(x) = ‖x‖²/2 per image (sum over H, W, C)."""

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    s = self.param("s", nn.initializers.ones, ())
    return 0.5 * s * jnp.sum(jnp.square(x), axis=(1, 2, 3))


class ZeroImageGenerator(nn.Module):
  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    b = self.param("b", nn.initializers.zeros, (8, 8, 1))
    return b + 0.0 * z[:, :1, None, None]


def test_r1_with_diffaugment_is_taken_through_the_augmentation():
  """StudioGAN's R1 with DiffAugment is E‖∇ₓ D(T(x))‖² (x the un-augmented reals). With x = 1
  and cutout's mask M, T(x) = M⊙x and ∇ₓ D(T(x)) = M⊙x, so R1 = E Σ M = 2·E D(T(x)) (the
  logged d_real), below the 64 of the un-augmented images."""
  gan, st = gan_players(ImageQuadraticCritic(), generator=ZeroImageGenerator(), objective="wgan",
                        example_shape=(8, 8, 1), r1_weight=1.0, diffaug="cutout")
  _, m = _d_step(gan, st, np.ones((64, 8, 8, 1), np.float32))
  assert float(m["r1"]) == pytest.approx(2 * float(m["d_real"]), rel=1e-5)
  assert 40 < float(m["r1"]) < 60
