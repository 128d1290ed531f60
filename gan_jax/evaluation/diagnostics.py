"""Instability diagnostics: pure functions of a run's logged metric history.

A history is what the trainer logs once per logging step: a list of records
``{"step", "d_loss", "g_loss", "d_fake", "g_logit_grad", "g_grad_norm", "g_param_norm", ...}``
(or a dict of equal-length series). ``d_fake`` is the mean D(G(z)) as a probability for logit
objectives, and ``g_logit_grad`` the mean per-example |∂ℓ_G/∂a| w.r.t. the fake logits a.
``{d,g}_loss_window_var`` is the detrended variance of the per-step losses of the record's
logging window (``oscillation`` of the per-step values, computed by the trainer), and
``{d,g}_loss_cycle_share`` the share of it in one cycle (``cycle_share``; logged for windows of
at least ``CYCLE_MIN_STEPS`` steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_WINDOW = 10
# ‖∇_θ ℓ_G‖ / ‖θ_G‖ below which G's parameter gradient counts as vanished. Healthy runs log far
# more: 2e-2 to 7e-2 over a 1000-step non-saturating cgan.py run, ~0.1 for experiments/tiny.py
# (docs/results.md, "The 2-D ring"); minimax with D(G(z)) ≈ 1e-2 scales it by about that factor.
G_GRAD_RATIO_MAX = 1e-3
# KL(p ‖ uniform) of a class or mode histogram p above which the generator counts as collapsed:
# 0.5 nats = log(K / K_eff) with K_eff = K·e^-0.5 ≈ 0.61·K, i.e. p is as concentrated as a
# uniform histogram over 61% of the K classes (6 of 10 MNIST digits, 4.9 of the ring's 8 modes).
# Real MNIST's class histogram has KL ≈ 0.002 (N = 10 000), its finite-sample bias is
# (K - 1)/(2N) (0.002 at N = 2000), and dropping one class of ten entirely gives 0.105.
MODE_COLLAPSE_KL = 0.5
# Oscillation: the players chase each other round a cycle, and the per-step losses of a logging
# window follow it. ``cycle_share`` above CYCLE_SHARE_MIN means one cycle (2 to n/3 steps long)
# holds at least half of the window's detrended loss variance, i.e. the cycle's variance at
# least equals everything else's (minibatch noise and drift). At n = 100, white noise gives
# ~0.1 (at most 0.22 in 200 draws), a random walk (red noise) a median of 0.18 (90th
# percentile 0.36); the Dirac-GAN (Mescheder et al. 2018: D(x) = ψx, G = θ, WGAN loss, gradient
# steps) 0.9 and above; the shipped ring recipe 0.04-0.34 (docs/results.md).
CYCLE_SHARE_MIN = 0.5
CYCLE_MIN_STEPS = 16


def series(history: Sequence[Mapping] | Mapping[str, Sequence], key: str) -> np.ndarray | None:
  """The float64 series of ``key`` (records lacking it are skipped); None when nowhere logged."""
  if isinstance(history, Mapping):
    return None if key not in history else np.asarray(history[key], np.float64).reshape(-1)
  values = [float(record[key]) for record in history if key in record]
  return np.asarray(values, np.float64) if values else None


def _trailing(values: np.ndarray, window: int) -> np.ndarray:
  return values[-window:] if window > 0 else values


def vanishing_gradient_stats(history, *, window: int = DEFAULT_WINDOW,
                             d_fake_key: str = "d_fake") -> dict[str, float] | None:
  """Trailing-window mean D(G(z)), median logit-gradient ratio g_logit_grad / (1 - D(G(z))),
  and median ‖∇_θ ℓ_G‖ / ‖θ_G‖ (``g_grad_ratio``, None when either norm is not logged).

  1 - D(G(z)) is the non-saturating loss's per-example logit gradient, so the ratio is ≈ 1 for
  it and ≈ D/(1-D) for minimax, whose per-example logit gradient is σ(a) = D(G(z)). None when
  the history lacks either of the first two series.
  """
  d_fake, grad = series(history, d_fake_key), series(history, "g_logit_grad")
  if d_fake is None or grad is None or not len(d_fake) or len(d_fake) != len(grad):
    return None
  d_fake, grad = _trailing(d_fake, window), _trailing(grad, window)
  ratio = grad / np.maximum(1.0 - d_fake, 1e-12)
  out = {"d_fake_mean": float(np.mean(d_fake)), "logit_grad_ratio": float(np.median(ratio)),
         "g_grad_ratio": None}
  g_grad, g_norm = series(history, "g_grad_norm"), series(history, "g_param_norm")
  if g_grad is not None and g_norm is not None and len(g_grad) == len(g_norm) and len(g_grad):
    out["g_grad_ratio"] = float(np.median(
        _trailing(g_grad, window) / np.maximum(_trailing(g_norm, window), 1e-12)))
  return out


def vanishing_gradient_flag(history, *, d_fake_max: float = 0.05, grad_ratio_max: float = 0.1,
                            g_grad_ratio_max: float = G_GRAD_RATIO_MAX,
                            window: int = DEFAULT_WINDOW, d_fake_key: str = "d_fake") -> bool:
  """Whether G's learning signal has vanished, over the last ``window`` logged records.

  Raised on either witness:
  - the minimax saturation: mean D(G(z)) < ``d_fake_max`` and median
    g_logit_grad / (1 - D(G(z))) < ``grad_ratio_max``. For ℓ_G = log(1 - σ(a)),
    |∂ℓ_G/∂a| = σ(a) = D(G(z)) ≈ 0, while the non-saturating -log σ(a) keeps 1 - D(G(z)) ≈ 1
    there: G gets a D/(1-D) share of the signal the non-saturating loss would give. (‖∇_θ ℓ_G‖
    itself need not be small: a confident D is often steep in x. On the ring with a strong D the
    minimax G's ‖∇_θ‖ stayed 30-100x below the non-saturating G's but ~0.1·‖θ‖: docs/results.md,
    "The 2-D ring".)
  - G's parameter gradient itself: median ‖∇_θ ℓ_G‖ / ‖θ_G‖ < ``g_grad_ratio_max``, where the
    history logs both norms, whatever the logits do.
  Only meaningful when d_fake is a probability (logit objectives, not WGAN scores); False when
  not logged.
  """
  stats = vanishing_gradient_stats(history, window=window, d_fake_key=d_fake_key)
  if stats is None:
    return False
  saturated = stats["d_fake_mean"] < d_fake_max and stats["logit_grad_ratio"] < grad_ratio_max
  g_vanished = stats["g_grad_ratio"] is not None and stats["g_grad_ratio"] < g_grad_ratio_max
  return bool(saturated or g_vanished)


def oscillation(values, window: int = DEFAULT_WINDOW, *, detrend: bool = True
                ) -> dict[str, float]:
  """Over the last ``window`` values (all when ``window`` <= 0): variance (ddof=0) and mean
  |v_t - v_{t-1}|.

  With ``detrend`` the variance is that of the residuals of the least-squares line through the
  values, so a loss that drifts steadily does not count as oscillating. Without, an alternation
  between a and b has variance ((a - b)/2)²; its mean absolute change is |a - b|.
  """
  v = _trailing(np.asarray(values, np.float64).reshape(-1), window)
  if not len(v):
    return {"variance": float("nan"), "mean_abs_change": float("nan")}
  change = float(np.mean(np.abs(np.diff(v)))) if len(v) > 1 else 0.0
  if detrend and len(v) > 2:
    t = np.arange(len(v), dtype=np.float64) - (len(v) - 1) / 2
    v = v - v.mean()
    v = v - (np.dot(t, v) / np.dot(t, t)) * t  # less the least-squares line
  return {"variance": float(np.var(v)), "mean_abs_change": change}


def cycle_share(values) -> float | None:
  """The share of a series' detrended variance in its strongest cycle of 2 to n/3 steps.

  With P_k the periodogram |FFT(v - least-squares line)|²_k (k = 1..n/2), the largest P_k over
  k ≥ 3 (at least three periods in the series), plus its neighbours k ± 1 (leakage of a period
  that falls between bins, or whose amplitude grows; not below 3), over Σ_{k≥1} P_k. Slow drift
  (k = 1, 2: where red noise puts most of its power) counts in the denominator only. None for
  fewer than ``CYCLE_MIN_STEPS`` values.
  """
  v = np.asarray(values, np.float64).reshape(-1)
  if len(v) < CYCLE_MIN_STEPS or not np.all(np.isfinite(v)):
    return None
  t = np.arange(len(v), dtype=np.float64) - (len(v) - 1) / 2
  v = v - v.mean()
  v = v - (np.dot(t, v) / np.dot(t, t)) * t
  power = np.abs(np.fft.rfft(v))[1:] ** 2  # bins k = 1..n/2
  total = float(np.sum(power))
  if total <= 0.0:
    return 0.0
  k = 2 + int(np.argmax(power[2:]))  # index into power: bin k + 1 ≥ 3
  return float(np.sum(power[max(k - 1, 2):k + 2]) / total)


def oscillation_flag(history, *, window: int = DEFAULT_WINDOW,
                     share_min: float = CYCLE_SHARE_MIN) -> bool:
  """Whether the losses oscillate: over the trailing ``window`` records that log it, the median
  ``d_loss_cycle_share`` or ``g_loss_cycle_share`` is at least ``share_min`` (one cycle holds
  half of the per-step losses' detrended variance; ``CYCLE_SHARE_MIN``). False when not logged
  (logging windows shorter than ``CYCLE_MIN_STEPS`` steps)."""
  for key in ("d_loss_cycle_share", "g_loss_cycle_share"):
    shares = series(history, key)
    if shares is not None and len(shares) and np.median(_trailing(shares, window)) >= share_min:
      return True
  return False


def mode_collapse(histogram, threshold: float = MODE_COLLAPSE_KL) -> dict:
  """KL(p ‖ uniform) = Σ_k p_k log(K p_k) of a class or mode histogram (counts or fractions),
  and whether it exceeds ``threshold`` (``MODE_COLLAPSE_KL``: documented there)."""
  p = np.asarray(histogram, np.float64)
  p = p / p.sum() if p.sum() > 0 else np.full(len(p), 1.0 / len(p))
  kl = float(np.sum(p[p > 0] * np.log(len(p) * p[p > 0])))
  return {"kl_from_uniform": kl, "mode_collapse": bool(kl > threshold)}


def summarize(history, *, window: int = DEFAULT_WINDOW, d_fake_is_probability: bool = True,
              d_fake_key: str = "d_fake") -> dict[str, float | bool | None]:
  """End-of-run summary: the vanishing-gradient flag and its statistics, the oscillation flag
  (``oscillation_flag``), final-window
  oscillation of d_loss and g_loss (the mean per-step detrended variance of the trailing
  ``window`` records where logged, else the detrended variance of the logged values), and the
  last logged value of each monitored quantity.

  Pass ``d_fake_is_probability=False`` for critic objectives (WGAN): the flag is then None.
  """
  out: dict[str, float | bool | None] = {"window": window}
  kw = dict(window=window, d_fake_key=d_fake_key)
  stats = vanishing_gradient_stats(history, **kw) if d_fake_is_probability else None
  out["vanishing_gradient"] = (
      vanishing_gradient_flag(history, **kw) if d_fake_is_probability else None)
  out.update(stats or {"d_fake_mean": None, "logit_grad_ratio": None, "g_grad_ratio": None})
  out["oscillation"] = oscillation_flag(history, window=window)
  for key in ("d_loss", "g_loss"):
    values = series(history, key)
    osc = oscillation(values, window) if values is not None else {}
    per_step = series(history, f"{key}_window_var")
    # The trainer's records carry the per-step oscillation of each logging window: average it
    # over the trailing records rather than take the variance of the windows' means.
    out[f"{key}_variance"] = (float(np.mean(_trailing(per_step, window)))
                              if per_step is not None and len(per_step) else osc.get("variance"))
    out[f"{key}_mean_abs_change"] = osc.get("mean_abs_change")
  for key in ("d_loss", "g_loss"):
    shares = series(history, f"{key}_cycle_share")
    out[f"{key}_cycle_share"] = (float(np.median(_trailing(shares, window)))
                                 if shares is not None and len(shares) else None)
  for key in ("step", "d_loss", "g_loss", "d_fake", "g_logit_grad", "g_grad_norm"):
    values = series(history, key)
    out[f"last_{key}"] = float(values[-1]) if values is not None and len(values) else None
  return out
