"""Tests of the instability diagnostics: on synthetic histories, on constructed generators and
as the trainer logs them."""

import copy
import dataclasses
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.evaluation import diagnostics, evaluator
from gan_jax.training import experiment, loop, writers
from tests.helpers import load_config


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
  osc = diagnostics.oscillation(alternating, 10, detrend=False)
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
  # Detrended: [1, 2, 1, 2] less its least-squares line (slope 0.2) has variance
  # 0.25 - 0.2² · var(0, 1, 2, 3) = 0.25 - 0.04 · 1.25 = 0.2.
  assert s["d_loss_variance"] == pytest.approx(0.2) and s["g_loss_variance"] == 0.0
  assert s["last_step"] == 4.0 and s["last_d_loss"] == 2.0
  assert diagnostics.summarize(history, d_fake_is_probability=False)["vanishing_gradient"] is None


def test_oscillation_is_detrended():
  t = np.arange(100.0)
  assert diagnostics.oscillation(3.0 * t, 100, detrend=False)["variance"] > 1e3
  assert diagnostics.oscillation(3.0 * t, 100)["variance"] == pytest.approx(0.0, abs=1e-18)
  # An alternation ±1.5 riding on a ramp keeps (almost) its variance 2.25 once detrended.
  wave = np.tile([-1.5, 1.5], 50)
  assert diagnostics.oscillation(wave + 0.5 * t, 100)["variance"] == pytest.approx(2.25, rel=0.01)
  assert diagnostics.oscillation(wave + 0.5 * t, 100, detrend=False)["variance"] > 200


def test_vanishing_gradient_flag_from_either_witness():
  """The saturated logit gradient raises the flag even while G's parameters get a healthy-looking
  gradient (‖∇‖/‖θ‖ = 0.05, as a steep confident D gives); a vanished parameter gradient
  (‖∇‖/‖θ‖ = 1e-5) raises it with unsaturated logits; neither: no flag."""
  saturated = _history(d_fake=0.001, g_logit_grad=0.001)
  unsaturated = _history(d_fake=0.4, g_logit_grad=0.4)
  healthy_g = {"g_grad_norm": 5.0, "g_param_norm": 100.0}
  vanished_g = {"g_grad_norm": 1e-3, "g_param_norm": 100.0}
  assert diagnostics.vanishing_gradient_flag([{**r, **healthy_g} for r in saturated])
  assert diagnostics.summarize([{**r, **healthy_g} for r in saturated])["g_grad_ratio"] == (
      pytest.approx(0.05))
  vanished = [{**r, **vanished_g} for r in unsaturated]
  assert diagnostics.vanishing_gradient_flag(vanished)
  assert diagnostics.summarize(vanished)["vanishing_gradient"] is True
  assert not diagnostics.vanishing_gradient_flag([{**r, **healthy_g} for r in unsaturated])


def test_mode_collapse_threshold():
  assert not diagnostics.mode_collapse(np.full(10, 100))["mode_collapse"]
  assert diagnostics.mode_collapse(np.eye(10)[3])["kl_from_uniform"] == pytest.approx(np.log(10))
  assert diagnostics.mode_collapse(np.eye(10)[3])["mode_collapse"]
  # Uniform over m of the 10 classes: KL = log(10/m); 6 classes (0.51) collapse, 7 (0.36) not.
  assert diagnostics.mode_collapse([1] * 6 + [0] * 4)["mode_collapse"]
  assert not diagnostics.mode_collapse([1] * 7 + [0] * 3)["mode_collapse"]


class _RingOracle(nn.Module):
  """A parameter-free G for the ring: the mode argmax(z[:8]) (or mode 0 when collapsed), plus
  the ring's std times z[8:10]."""

  centers: tuple
  std: float
  collapsed: bool = False

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    centers = jnp.asarray(self.centers)
    mode = jnp.zeros(z.shape[0], jnp.int32) if self.collapsed else jnp.argmax(z[:, :8], -1)
    return centers[mode] + self.std * z[:, 8:10]


@pytest.mark.parametrize("collapsed", [False, True])
def test_mode_collapse_flag_of_constructed_ring_generators(collapsed):
  config = load_config("experiments/tiny.py")
  config.model.z_dim = 16
  exp = experiment.build(config, num_devices=1)
  ds = exp.dataset
  oracle = _RingOracle(tuple(map(tuple, ds.mode_centers.tolist())), ds.mode_std, collapsed)
  s = exp.init_state().replace(g_params={}, ema_g_params={})
  game = copy.copy(exp.game)  # the GAN game samples from the oracle
  game.generator = oracle
  exp = dataclasses.replace(exp, game=game)
  result = evaluator.evaluate(exp, s, num=2000)
  assert result["high_quality_fraction"] > 0.95
  assert result["mode_collapse"] is collapsed
  expected_kl = np.log(8) if collapsed else 0.0
  assert result["mode_kl"] == pytest.approx(expected_kl, abs=0.02)


def test_trainer_logs_per_step_oscillation_and_the_flags(tmp_path):
  """A record's {d,g}_loss_window_var is the detrended variance of its window's per-step losses
  (read from a run of the same steps that logs every step); the summary and the final eval
  record carry the flags."""
  def run(name, log_every):
    c = load_config("experiments/tiny.py")
    c.train.num_steps, c.train.log_every = 8, log_every
    c.train.sample_every = c.train.checkpoint_every = 8
    c.train.eval_num = 500
    workdir = str(tmp_path / name)
    out = loop.train_and_evaluate(c, workdir)
    with open(os.path.join(workdir, writers.METRICS_FILE)) as f:
      return out, [json.loads(line) for line in f]

  _, per_step = run("every_step", 1)
  out, records = run("every_4", 4)
  training = [r for r in records if not r.get("eval")]
  assert [r["step"] for r in training] == [4, 8]
  for r in training:
    window = [p for p in per_step if not p.get("eval") and r["step"] - 4 < p["step"] <= r["step"]]
    for k in ("d_loss", "g_loss"):
      expected = diagnostics.oscillation([p[k] for p in window], 0)["variance"]
      assert r[f"{k}_window_var"] == pytest.approx(expected, rel=1e-6, abs=1e-12)
    assert r["vanishing_gradient"] in (0, 1)
  assert out["diagnostics"]["d_loss_variance"] == pytest.approx(
      np.mean([r["d_loss_window_var"] for r in training]))
  with open(os.path.join(tmp_path / "every_4", writers.SUMMARY_FILE)) as f:
    summary = json.load(f)
  assert summary["diagnostics"]["mode_collapse"] is records[-1]["mode_collapse"]
  assert summary["diagnostics"]["vanishing_gradient"] in (True, False)
  assert records[-1]["eval"] and isinstance(records[-1]["mode_collapse"], bool)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["minimax", "non_saturating"])
def test_vanishing_gradient_flag_fires_on_minimax_with_a_strong_d(tmp_path, objective):
  """The ring with a fast D (lr 1e-2) and a frozen-in-place G (lr 1e-7): D rejects every fake,
  D(G(z)) → 0. The minimax G's gradient then vanishes (|∂ℓ_G/∂a| = D(G(z))) and the trainer's flag
  is raised in metrics.jsonl and summary.json; the non-saturating G keeps |∂ℓ_G/∂a| ≈ 1 and is
  not flagged."""
  c = load_config("experiments/mog.py")
  c.objective = objective
  c.reg.r1_weight = 0.0
  c.optim.schedule, c.optim.d_lr, c.optim.g_lr = "constant", 1e-2, 1e-7
  c.train.num_steps, c.train.log_every = 400, 20
  c.train.sample_every = c.train.checkpoint_every = 400
  c.train.eval_at_end = False
  workdir = str(tmp_path / objective)
  out = loop.train_and_evaluate(c, workdir)
  with open(os.path.join(workdir, writers.METRICS_FILE)) as f:
    last = [json.loads(line) for line in f][-1]
  with open(os.path.join(workdir, writers.SUMMARY_FILE)) as f:
    summary = json.load(f)["diagnostics"]
  assert out["diagnostics"]["d_fake_mean"] < 0.05  # D is strong in both runs
  flagged = objective == "minimax"
  assert last["vanishing_gradient"] == int(flagged)
  assert summary["vanishing_gradient"] is flagged


# ---- Oscillation ------------------------------------------------------------------------------


def test_cycle_share_of_a_cycle_noise_and_drift():
  """A sinusoid (period 20 of n = 100) holds ~all its detrended variance in one cycle; white
  noise and random walks (slow drift) spread theirs; a cycle under equal-variance noise ≈ 1/2."""
  rng = np.random.default_rng(0)
  t = np.arange(100)
  wave = np.sin(2 * np.pi * t / 20)
  assert diagnostics.cycle_share(wave + 0.01 * t) > 0.95
  assert diagnostics.cycle_share(rng.normal(size=100)) < 0.2
  walks = [diagnostics.cycle_share(np.cumsum(rng.normal(size=100))) for _ in range(21)]
  assert np.median(walks) < 0.3
  noisy = [diagnostics.cycle_share(wave + np.sqrt(0.5) * rng.normal(size=100))  # var 1/2 each
           for _ in range(20)]
  assert 0.3 < np.median(noisy) < 0.7
  assert diagnostics.cycle_share(wave[:diagnostics.CYCLE_MIN_STEPS - 1]) is None


class LinearCritic(nn.Module):
  """The Dirac-GAN's D(x) = ψ·x (Mescheder et al. 2018), ψ = 0 at init."""

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    return self.param("psi", nn.initializers.zeros, ()) * x[:, 0]


class DiracGenerator(nn.Module):
  """The Dirac-GAN's G(z) = θ, θ = 1 at init; the data sit at 0."""

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    return self.param("theta", nn.initializers.ones, ()) + 0.0 * z[:, :1]


def _dirac_gan_records(lr: float, num_steps: int = 400, log_every: int = 100) -> list[dict]:
  """Records (as the GAN game logs them) of a Dirac-GAN trained by the GAN train step with the
  WGAN loss and SGD(lr): ψ and θ rotate about the equilibrium (0, 0) for ever, and the losses ψθ
  cycle with a period of ≈ π/lr steps."""
  import optax

  from gan_jax.games import gan_state
  from gan_jax.training import parallel
  from tests.helpers import gan_players

  optimizers = gan_state.Optimizers(g=optax.sgd(lr), d=optax.sgd(lr))
  gan, s = gan_players(LinearCritic(), generator=DiracGenerator(), objective="wgan",
                       optimizers=optimizers, z_dim=1, example_shape=(1,))
  par = parallel.DataParallel("pmap", devices=jax.devices()[:1])
  step = par.map_step(gan.train_step)
  dev, batch = par.put_state(s), par.put_batch({"x": np.zeros((8, 1, 1), np.float32)})
  history, window = [], []
  for i in range(num_steps):
    dev, m = step(dev, batch, jax.random.key(0))
    window.append(m)
    if (i + 1) % log_every == 0:
      host = par.fetch(window)
      record = {f"{k}_cycle_share": diagnostics.cycle_share([float(m[k]) for m in host])
                for k in ("d_loss", "g_loss")}
      history.append({"step": i + 1, **record})
      history[-1]["oscillating"] = int(diagnostics.oscillation_flag(history))
      window = []
  return history


def test_oscillation_flag_fires_on_the_dirac_gan():
  records = _dirac_gan_records(lr=0.1)
  assert all(r["d_loss_cycle_share"] > 0.8 for r in records), records
  assert [r["oscillating"] for r in records] == [1] * len(records)
  assert diagnostics.summarize(records, d_fake_is_probability=False)["oscillation"] is True


def test_oscillation_flag_stays_quiet_on_noise_and_on_a_converging_game():
  """Minibatch-like noise about a drifting mean, and a damped cycle that has died out."""
  rng = np.random.default_rng(1)
  t = np.arange(100)
  noise = [{"d_loss_cycle_share": diagnostics.cycle_share(1.0 - 1e-3 * t + rng.normal(size=100)),
            "g_loss_cycle_share": diagnostics.cycle_share(rng.normal(size=100))}
           for _ in range(20)]
  assert not diagnostics.oscillation_flag(noise)
  assert diagnostics.summarize(noise)["oscillation"] is False
  damped = np.exp(-t / 5) * np.sin(2 * np.pi * t / 20) + 0.1 * rng.normal(size=100)
  assert not diagnostics.oscillation_flag([{"d_loss_cycle_share": diagnostics.cycle_share(
      damped)}] * 10)


@pytest.mark.slow
def test_oscillation_flag_stays_quiet_on_the_shipped_ring_recipe(tmp_path):
  """experiments/mog.py (non-saturating + R1) for 1000 of its 5000 steps, logged every 250:
  no record and no summary is flagged. (Its full run's shares: docs/results.md.)"""
  c = load_config("experiments/mog.py")
  c.train.num_steps, c.train.eval_at_end = 1000, False
  c.train.sample_every = c.train.checkpoint_every = 1000
  out = loop.train_and_evaluate(c, str(tmp_path / "mog"))
  records = [r for r in out["history"] if "d_loss_cycle_share" in r]
  assert len(records) == 4 and not any(r["oscillating"] for r in records), records
  assert out["diagnostics"]["oscillation"] is False
