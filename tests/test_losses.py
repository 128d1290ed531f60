"""Values, shapes, transforms and edge cases of gan_jax.losses."""

import doctest
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses

REAL = np.array([-1.0, 0.5, 2.0, 0.0])
FAKE = np.array([0.3, -2.0, 1.0, -0.7])


def _log_d(a):
  """log D for D = 1 / (1 + e^-a), computed naively (fine for small |a|)."""
  return np.log(1.0 / (1.0 + np.exp(-np.asarray(a, np.float64))))


def _log_one_minus_d(a):
  return np.log(1.0 - 1.0 / (1.0 + np.exp(-np.asarray(a, np.float64))))


# Independent formulas: (d_loss, g_loss) of (r, f) in the lecture's notation.
EXPECTED = {
    "minimax": (lambda r, f: -_log_d(r).mean() - _log_one_minus_d(f).mean(),
                lambda f: _log_one_minus_d(f).mean()),
    "non_saturating": (lambda r, f: -_log_d(r).mean() - _log_one_minus_d(f).mean(),
                       lambda f: -_log_d(f).mean()),
    "wgan": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "wgan_gp": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "lsgan": (lambda r, f: ((r - 1) ** 2).mean() / 2 + (f ** 2).mean() / 2,
              lambda f: ((f - 1) ** 2).mean() / 2),
    "hinge": (lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(),
              lambda f: -f.mean()),
}


# ---- The registry ----------------------------------------------------------------------------


def test_registry_names_and_attributes():
  assert losses.NAMES == ("minimax", "non_saturating", "wgan", "wgan_gp", "lsgan", "hinge")
  outputs = {name: losses.get(name).output for name in losses.NAMES}
  assert outputs == dict(minimax="logit", non_saturating="logit", wgan="critic",
                         wgan_gp="critic", lsgan="score", hinge="critic")
  assert [n for n in losses.NAMES if losses.get(n).uses_gradient_penalty] == ["wgan_gp"]
  assert all(losses.get(n).name == n for n in losses.NAMES)


@pytest.mark.parametrize("name", ["foo", "Hinge", "", None])
def test_unknown_name_raises_listing_valid_names(name):
  with pytest.raises(ValueError) as err:
    losses.get(name)
  message = str(err.value)
  assert "\n" not in message
  assert message.startswith(f"unknown objective {name!r}; valid: ")
  assert message.endswith(", ".join(losses.NAMES))


def test_module_docstring_example_runs():
  result = doctest.testmod(losses, raise_on_error=False, verbose=False)
  assert result.attempted >= 2
  assert result.failed == 0


# ---- Values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", losses.NAMES)
def test_values_match_hand_computed_formulas(name):
  obj = losses.get(name)
  expected_d, expected_g = EXPECTED[name]
  assert float(obj.d_loss(jnp.asarray(REAL), jnp.asarray(FAKE))) == pytest.approx(
      expected_d(REAL, FAKE), rel=1e-6)
  assert float(obj.g_loss(jnp.asarray(FAKE))) == pytest.approx(expected_g(FAKE), rel=1e-6)


def test_hinge_and_lsgan_by_hand():
  """Spelled-out arithmetic for two objectives, with no formula shared with the library."""
  hinge = losses.get("hinge")
  # real: relu(1-2)=0, relu(1-0.5)=0.5 -> 0.25; fake: relu(1-1.5)=0, relu(1+0.3)=1.3 -> 0.65.
  assert float(hinge.d_loss(jnp.array([2.0, 0.5]), jnp.array([-1.5, 0.3]))) == pytest.approx(0.9)
  lsgan = losses.get("lsgan")
  # real: ((3-1)²/2 + (1-1)²/2)/2 = 1; fake: (2²/2 + 0²/2)/2 = 1; g: ((2-1)²/2 + (0-1)²/2)/2 = 0.5.
  assert float(lsgan.d_loss(jnp.array([3.0, 1.0]), jnp.array([2.0, 0.0]))) == 2.0
  assert float(lsgan.g_loss(jnp.array([2.0, 0.0]))) == 0.5


def test_logit_objectives_at_zero_logits_are_log2():
  """D = 1/2 everywhere: d_loss = 2 log 2, NS g_loss = log 2, minimax g_loss = -log 2."""
  zeros = jnp.zeros(3)
  assert float(losses.get("minimax").d_loss(zeros, zeros)) == pytest.approx(2 * math.log(2))
  assert float(losses.get("non_saturating").g_loss(zeros)) == pytest.approx(math.log(2))
  assert float(losses.get("minimax").g_loss(zeros)) == pytest.approx(-math.log(2))


def test_extreme_logits_are_finite_and_exact():
  """softplus forms: no log(0) at ±100, and the large terms are exactly |a|."""
  minimax, ns = losses.get("minimax"), losses.get("non_saturating")
  big, small = jnp.array([100.0]), jnp.array([-100.0])
  confident = float(minimax.d_loss(big, small))  # 2·log1p(e^-100) ≈ 7e-44.
  assert math.isfinite(confident) and 0.0 <= confident < 1e-30
  assert float(minimax.d_loss(small, small)) == pytest.approx(100.0, rel=1e-7)
  assert float(minimax.d_loss(small, big)) == pytest.approx(200.0, rel=1e-7)
  assert float(minimax.g_loss(big)) == pytest.approx(-100.0, rel=1e-7)
  assert float(minimax.g_loss(small)) == pytest.approx(0.0, abs=1e-30)
  assert float(ns.g_loss(small)) == pytest.approx(100.0, rel=1e-7)
  assert float(ns.g_loss(big)) == pytest.approx(0.0, abs=1e-30)
  smoothed = float(minimax.d_loss(big, small, label_smoothing=0.1))  # 0.1·100 + ~0.
  assert smoothed == pytest.approx(10.0, rel=1e-6)
  both = jnp.array([100.0, -100.0])
  for name in losses.NAMES:
    obj = losses.get(name)
    grads = jax.grad(lambda r, f: obj.d_loss(r, f), argnums=(0, 1))(both, both)  # noqa: B023
    values = [obj.d_loss(both, both), obj.g_loss(both), *grads, jax.grad(obj.g_loss)(both)]
    assert all(np.isfinite(np.asarray(v)).all() for v in values), name


def test_d_prob_or_score():
  outputs = jnp.array([[-1.0], [0.0], [3.0]])
  sig = 1.0 / (1.0 + np.exp(-np.array([-1.0, 0.0, 3.0])))
  for name in losses.NAMES:
    obj = losses.get(name)
    expected = sig.mean() if name in ("minimax", "non_saturating") else 2.0 / 3.0
    assert float(obj.d_prob_or_score(outputs)) == pytest.approx(expected, rel=1e-6), name


# ---- Shapes and transforms -----------------------------------------------------------------


@pytest.mark.parametrize("name", losses.NAMES)
def test_column_and_flat_inputs_agree(name):
  obj = losses.get(name)
  r, f = jnp.asarray(REAL), jnp.asarray(FAKE)
  assert float(obj.d_loss(r[:, None], f[:, None])) == float(obj.d_loss(r, f))
  assert float(obj.d_loss(r[:, None], f)) == float(obj.d_loss(r, f))
  assert float(obj.g_loss(f[:, None])) == float(obj.g_loss(f))


def test_wider_outputs_are_rejected():
  with pytest.raises(ValueError, match=r"\(N,\) or \(N, 1\)"):
    losses.get("hinge").d_loss(jnp.zeros((4, 2)), jnp.zeros(4))


@pytest.mark.parametrize("name", losses.NAMES)
def test_jit_and_vmap_match_eager_loops(name):
  obj = losses.get(name)
  rng = np.random.default_rng(1)
  real, fake = jnp.asarray(rng.normal(size=(5, 8))), jnp.asarray(rng.normal(size=(5, 8)))
  d_loop = np.array([float(obj.d_loss(r, f)) for r, f in zip(real, fake, strict=True)])
  g_loop = np.array([float(obj.g_loss(f)) for f in fake])
  np.testing.assert_allclose(jax.vmap(obj.d_loss)(real, fake), d_loop, rtol=1e-6)
  np.testing.assert_allclose(jax.vmap(obj.g_loss)(fake), g_loop, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(obj.d_loss)(real[0], fake[0]), d_loop[0], rtol=1e-6)
  np.testing.assert_allclose(jax.jit(obj.g_loss)(fake[0]), g_loop[0], rtol=1e-6)


# ---- One-sided label smoothing ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_label_smoothing_logit_objectives(name):
  """Real term = sigmoid cross-entropy with target 1 - ε; the fake term is unchanged."""
  eps = 0.2
  obj = losses.get(name)
  real_ce = -(1 - eps) * _log_d(REAL) - eps * _log_one_minus_d(REAL)
  expected = real_ce.mean() - _log_one_minus_d(FAKE).mean()
  smoothed = obj.d_loss(jnp.asarray(REAL), jnp.asarray(FAKE), label_smoothing=eps)
  assert float(smoothed) == pytest.approx(expected, rel=1e-6)
  assert float(smoothed) != pytest.approx(EXPECTED[name][0](REAL, FAKE), rel=1e-3)
  jitted = jax.jit(lambda r, f, e: obj.d_loss(r, f, label_smoothing=e))
  assert float(jitted(jnp.asarray(REAL), jnp.asarray(FAKE), eps)) == pytest.approx(expected,
                                                                                   rel=1e-6)


def test_label_smoothing_lsgan():
  eps = 0.1
  expected = ((REAL - (1 - eps)) ** 2).mean() / 2 + (FAKE ** 2).mean() / 2
  value = losses.get("lsgan").d_loss(jnp.asarray(REAL), jnp.asarray(FAKE), label_smoothing=eps)
  assert float(value) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["wgan", "wgan_gp", "hinge"])
def test_label_smoothing_is_rejected_for_critics(name):
  obj = losses.get(name)
  with pytest.raises(ValueError, match=f"label smoothing is undefined for the '{name}'"):
    obj.d_loss(jnp.asarray(REAL), jnp.asarray(FAKE), label_smoothing=0.1)
  assert float(obj.d_loss(jnp.asarray(REAL), jnp.asarray(FAKE), label_smoothing=0.0)) == (
      pytest.approx(EXPECTED[name][0](REAL, FAKE), rel=1e-6))


# ---- Gradient penalty ------------------------------------------------------------------------


def _linear_critic(w):
  """x ↦ Σ w·x per example, for x of shape (N, *w.shape)."""
  return lambda x: jnp.sum(x * w, axis=tuple(range(1, x.ndim)))


def _data(d, n=6, seed=0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.normal(size=(n, d)), jnp.float32), jnp.asarray(
      rng.normal(1.0, 2.0, size=(n, d)), jnp.float32)


def test_gradient_penalty_is_zero_for_a_unit_linear_critic():
  d = 7
  w = np.random.default_rng(3).normal(size=d)
  w = jnp.asarray(w / np.linalg.norm(w), jnp.float32)
  real, fake = _data(d)
  assert float(losses.gradient_penalty(_linear_critic(w), real, fake, jax.random.key(0))) == (
      pytest.approx(0.0, abs=1e-12))


@pytest.mark.parametrize("d", [1, 4, 9])
def test_gradient_penalty_of_twice_the_sum(d):
  """x ↦ 2 Σ x has ‖∇‖ = 2√d: penalty (2√d - 1)², or (2√d / t - 1)² with target t."""
  real, fake = _data(d)
  critic = lambda x: 2.0 * jnp.sum(x, axis=-1)
  key = jax.random.key(1)
  assert float(losses.gradient_penalty(critic, real, fake, key)) == pytest.approx(
      (2 * math.sqrt(d) - 1) ** 2, rel=1e-6)
  assert float(losses.gradient_penalty(critic, real, fake, key, target=2.0)) == pytest.approx(
      (math.sqrt(d) - 1) ** 2, abs=1e-6)
  assert float(losses.gradient_penalty(critic, real, fake, key, 4.0)) == pytest.approx(
      (math.sqrt(d) / 2 - 1) ** 2, abs=1e-6)


def test_gradient_penalty_on_image_shaped_inputs_with_column_output():
  """Per-example norms over all of (H, W, C), critic output (N, 1)."""
  w = jnp.full((2, 3, 1), 0.5)  # ‖w‖ = √6 / 2.
  critic = lambda x: _linear_critic(w)(x)[:, None]
  real = jnp.zeros((5, 2, 3, 1))
  fake = jnp.ones((5, 2, 3, 1))
  assert float(losses.gradient_penalty(critic, real, fake, jax.random.key(0))) == pytest.approx(
      (math.sqrt(6) / 2 - 1) ** 2, rel=1e-6)


def test_gradient_penalty_interpolates_per_example_and_alpha_overrides_key():
  """For x ↦ ‖x‖²/2, ∇ = x̂ itself, so the penalty reveals each interpolate."""
  real, fake = _data(3, n=5)
  critic = lambda x: 0.5 * jnp.sum(x ** 2, axis=-1)
  alpha = jnp.array([0.0, 0.25, 0.5, 0.9, 0.1])
  x_hat = np.asarray(real) + np.asarray(alpha)[:, None] * (np.asarray(fake) - np.asarray(real))
  expected = np.mean((np.linalg.norm(x_hat, axis=1) - 1.0) ** 2)
  given = [float(losses.gradient_penalty(critic, real, fake, key, alpha=alpha))
           for key in (None, jax.random.key(0), jax.random.key(1))]
  assert given == pytest.approx([expected] * 3, rel=1e-5)
  drawn = [float(losses.gradient_penalty(critic, real, fake, jax.random.key(k))) for k in (0, 1)]
  assert drawn[0] != pytest.approx(drawn[1], rel=1e-3)
  alpha0 = jax.random.uniform(jax.random.key(0), (5,))
  assert drawn[0] == pytest.approx(
      float(losses.gradient_penalty(critic, real, fake, alpha=alpha0)), rel=1e-6)


def test_gradient_penalty_needs_key_or_alpha():
  real, fake = _data(2)
  with pytest.raises(ValueError, match="key or alpha"):
    losses.gradient_penalty(lambda x: x[:, 0], real, fake)


def test_gradient_penalty_has_finite_gradient_for_a_flat_critic():
  """With w = 0 the input gradient is 0 and ‖·‖ is not differentiable; the penalty's gradient
  must still be finite (a plain sqrt gives NaN here)."""
  real, fake = _data(4)
  penalty = lambda w: losses.gradient_penalty(_linear_critic(w), real, fake, jax.random.key(0))
  w = jnp.zeros(4)
  assert float(penalty(w)) == 1.0
  grad = np.asarray(jax.grad(penalty)(w))
  assert np.isfinite(grad).all()
  # The flat critic written with a constant output, differentiated through the inputs too.
  const = lambda x: jnp.zeros(x.shape[0]) + 0.0 * jnp.sum(x, axis=-1)
  grad_real = jax.grad(lambda r: losses.gradient_penalty(const, r, fake, jax.random.key(0)))(real)
  assert np.isfinite(np.asarray(grad_real)).all()


def test_gradient_penalty_double_backward_matches_analytic_derivative():
  """f(x) = w·x: penalty (‖w‖ - 1)², and d/dw = 2(‖w‖ - 1) w / ‖w‖."""
  real, fake = _data(3)
  with jax.enable_x64(True):
    w = jnp.array([0.3, -1.2, 2.0])
    penalty = lambda w: losses.gradient_penalty(
        _linear_critic(w), real.astype(jnp.float64), fake.astype(jnp.float64), jax.random.key(0))
    norm = float(jnp.linalg.norm(w))
    assert float(penalty(w)) == pytest.approx((norm - 1) ** 2, rel=1e-12)
    np.testing.assert_allclose(jax.grad(penalty)(w), 2 * (norm - 1) * np.asarray(w) / norm,
                               rtol=1e-12)
    jitted = jax.jit(jax.grad(penalty))(w)
    np.testing.assert_allclose(jitted, 2 * (norm - 1) * np.asarray(w) / norm, rtol=1e-12)


# ---- R1 and the auxiliary classifier -----------------------------------------------------------


def test_r1_penalty_is_squared_norm_of_the_input_gradient():
  real, _ = _data(3)
  w = jnp.array([0.5, -2.0, 1.0])
  assert float(losses.r1_penalty(_linear_critic(w), real)) == pytest.approx(5.25, rel=1e-6)
  # ∇ of ‖x‖²/2 is x: R1 = E ‖x‖², and its gradient w.r.t. a scale s on the critic is 2s·E‖x‖².
  sq = float(np.mean(np.sum(np.asarray(real) ** 2, axis=1)))
  r1 = lambda s: losses.r1_penalty(lambda x: s * 0.5 * jnp.sum(x ** 2, axis=-1), real)
  assert float(r1(1.0)) == pytest.approx(sq, rel=1e-5)
  assert float(jax.grad(r1)(3.0)) == pytest.approx(6.0 * sq, rel=1e-5)


def test_auxiliary_classifier_loss_is_softmax_cross_entropy():
  rng = np.random.default_rng(5)
  logits = rng.normal(0.0, 3.0, size=(6, 10))
  labels = rng.integers(0, 10, size=6)
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  expected = -log_softmax[np.arange(6), labels].mean()
  value = losses.auxiliary_classifier_loss(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
  assert float(value) == pytest.approx(expected, rel=1e-5)
