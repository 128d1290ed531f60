"""Instability diagnostics: pure functions of a run's logged metric history.

A history is what the trainer logs once per logging step: a list of records
``{"step", "d_loss", "g_loss", "d_fake", "g_logit_grad", "g_grad_norm", ...}`` (or a dict of
equal-length series). ``d_fake`` is the mean D(G(z)) as a probability for logit objectives, and
``g_logit_grad`` the mean per-example |∂ℓ_G/∂a| w.r.t. the fake logits a.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_WINDOW = 10


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
  """Trailing-window mean D(G(z)) and median logit-gradient ratio g_logit_grad / (1 - D(G(z))).

  1 - D(G(z)) is the non-saturating loss's per-example logit gradient, so the ratio is ≈ 1 for
  it and ≈ D/(1-D) for minimax, whose per-example logit gradient is σ(a) = D(G(z)). None when
  the history lacks either series.
  """
  d_fake, grad = series(history, d_fake_key), series(history, "g_logit_grad")
  if d_fake is None or grad is None or not len(d_fake) or len(d_fake) != len(grad):
    return None
  d_fake, grad = _trailing(d_fake, window), _trailing(grad, window)
  ratio = grad / np.maximum(1.0 - d_fake, 1e-12)
  return {"d_fake_mean": float(np.mean(d_fake)), "logit_grad_ratio": float(np.median(ratio))}


def vanishing_gradient_flag(history, *, d_fake_max: float = 0.05, grad_ratio_max: float = 0.1,
                            window: int = DEFAULT_WINDOW, d_fake_key: str = "d_fake") -> bool:
  """Whether G's gradient has vanished because D rejects every fake (the minimax saturation).

  Raised when, over the last ``window`` logged records, mean D(G(z)) < ``d_fake_max`` and
  median g_logit_grad / (1 - D(G(z))) < ``grad_ratio_max``. For the minimax loss
  ℓ_G = log(1 - σ(a)), |∂ℓ_G/∂a| = σ(a) = D(G(z)): D(G(z)) ≈ 0 ⇒ gradient ≈ 0, while the
  non-saturating loss -log σ(a) keeps |∂ℓ_G/∂a| = 1 - D(G(z)) ≈ 1 there. Only meaningful when
  d_fake is a probability (logit objectives, not WGAN scores); False when not logged.
  """
  stats = vanishing_gradient_stats(history, window=window, d_fake_key=d_fake_key)
  return bool(stats is not None and stats["d_fake_mean"] < d_fake_max
              and stats["logit_grad_ratio"] < grad_ratio_max)


def oscillation(values, window: int = DEFAULT_WINDOW) -> dict[str, float]:
  """Over the last ``window`` values: variance (ddof=0) and mean |v_t - v_{t-1}|.

  An alternation between a and b has variance ((a - b)/2)² and mean absolute change |a - b|.
  """
  v = _trailing(np.asarray(values, np.float64).reshape(-1), window)
  if not len(v):
    return {"variance": float("nan"), "mean_abs_change": float("nan")}
  change = float(np.mean(np.abs(np.diff(v)))) if len(v) > 1 else 0.0
  return {"variance": float(np.var(v)), "mean_abs_change": change}


def summarize(history, *, window: int = DEFAULT_WINDOW, d_fake_is_probability: bool = True,
              d_fake_key: str = "d_fake") -> dict[str, float | bool | None]:
  """End-of-run summary: the vanishing-gradient flag and its statistics, final-window
  oscillation of d_loss and g_loss, and the last logged value of each monitored quantity.

  Pass ``d_fake_is_probability=False`` for critic objectives (WGAN): the flag is then None.
  """
  out: dict[str, float | bool | None] = {"window": window}
  kw = dict(window=window, d_fake_key=d_fake_key)
  stats = vanishing_gradient_stats(history, **kw) if d_fake_is_probability else None
  out["vanishing_gradient"] = (
      vanishing_gradient_flag(history, **kw) if d_fake_is_probability else None)
  out.update(stats or {"d_fake_mean": None, "logit_grad_ratio": None})
  for key in ("d_loss", "g_loss"):
    values = series(history, key)
    osc = oscillation(values, window) if values is not None else {}
    out[f"{key}_variance"] = osc.get("variance")
    out[f"{key}_mean_abs_change"] = osc.get("mean_abs_change")
  for key in ("step", "d_loss", "g_loss", "d_fake", "g_logit_grad", "g_grad_norm"):
    values = series(history, key)
    out[f"last_{key}"] = float(values[-1]) if values is not None and len(values) else None
  return out
