"""Tests of the instability diagnostics on synthetic histories."""

import numpy as np
import pytest

from gan_jax import diagnostics


def _history(d_fake, g_logit_grad, n=30, seed=0):
  rng = np.random.default_rng(seed)
  return [{"step": 100 * (i + 1), "d_fake": d_fake * (1 + 0.1 * rng.standard_normal()),
           "g_logit_grad": g_logit_grad * (1 + 0.1 * rng.standard_normal()),
           "d_loss": 0.01 + 0.001 * rng.standard_normal(), "g_loss": -0.001,
           "g_grad_norm": 1e-4} for i in range(n)]


def test_minimax_saturation_raises_the_flag():
  # Minimax: |∂ℓ_G/∂a| = σ(a) = D(G(z)) ≈ 0.001.
  history = _history(d_fake=0.001, g_logit_grad=0.001)
  assert diagnostics.vanishing_gradient_flag(history)
  summary = diagnostics.summarize(history)
  assert summary["vanishing_gradient"] is True
  assert summary["logit_grad_ratio"] == pytest.approx(0.001, rel=0.3)


def test_non_saturating_with_confident_d_does_not_raise():
  # Same confident D, but NS keeps |∂ℓ_G/∂a| = 1 - D(G(z)) ≈ 1.
  assert not diagnostics.vanishing_gradient_flag(_history(d_fake=0.001, g_logit_grad=0.999))


def test_healthy_minimax_does_not_raise():
  assert not diagnostics.vanishing_gradient_flag(_history(d_fake=0.4, g_logit_grad=0.4))


def test_flag_uses_the_trailing_window():
  # Saturated early, recovered at the end: no flag; the reverse: flag.
  early, late = _history(0.001, 0.001, n=20), _history(0.4, 0.4, n=10)
  assert not diagnostics.vanishing_gradient_flag(early + late, window=10)
  assert diagnostics.vanishing_gradient_flag(late + early, window=10)


def test_flag_without_logged_quantities_is_false():
  assert not diagnostics.vanishing_gradient_flag([{"d_loss": 1.0}])
  assert not diagnostics.vanishing_gradient_flag([])


def test_oscillation_constant_and_alternating():
  assert diagnostics.oscillation(np.full(50, 3.0), 10) == {"variance": 0.0, "mean_abs_change": 0.0}
  # Alternating a, b: variance ((a - b)/2)², mean |step| = |a - b|.
  alternating = np.tile([1.0, 4.0], 25)
  osc = diagnostics.oscillation(alternating, 10)
  assert osc["variance"] == pytest.approx(2.25)
  assert osc["mean_abs_change"] == pytest.approx(3.0)
  # Only the trailing window counts.
  ramp_then_flat = np.concatenate([np.arange(40.0), np.full(10, 7.0)])
  assert diagnostics.oscillation(ramp_then_flat, 10)["variance"] == 0.0


def test_summarize_accepts_dict_of_series():
  history = {"step": [1, 2, 3, 4], "d_loss": [1.0, 2.0, 1.0, 2.0], "g_loss": [0.5] * 4,
             "d_fake": [0.5] * 4, "g_logit_grad": [0.5] * 4, "g_grad_norm": [1.0] * 4}
  s = diagnostics.summarize(history, window=4)
  assert s["vanishing_gradient"] is False
  assert s["d_loss_variance"] == pytest.approx(0.25) and s["g_loss_variance"] == 0.0
  assert s["last_step"] == 4.0 and s["last_d_loss"] == 2.0
  assert diagnostics.summarize(history, d_fake_is_probability=False)["vanishing_gradient"] is None
