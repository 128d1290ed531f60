"""Each regulariser of gan_jax.steps acts as its formula says, on small MLP players in-process.

The D updates run through ``GANSteps.d_step`` mapped like the trainer maps it (pmap, 1 device).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import losses, models, parallel, state, steps
from gan_jax.models import mlp

N = 2048  # Real examples per D update: enough for noise statistics within a few percent.
PAR = parallel.DataParallel("pmap", devices=jax.devices()[:1])
SEEN = []  # The inputs a RecordingCritic was last called with (host copies).


class RecordingCritic(nn.Module):
  """D(x) = w·x + b that records every input it is called with (through a host callback)."""

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    jax.debug.callback(lambda v: SEEN.append(np.asarray(v)), x)
    return nn.Dense(1)(x)[:, 0]


class LinearCritic(nn.Module):
  """D(x) = w·x + b, so ∇ₓD = w everywhere."""

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    return nn.Dense(1)(x)[:, 0]


class ConstantCritic(nn.Module):
  """D(x) = β for every x (β initialised to ``value``)."""

  value: float = 0.7

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    beta = self.param("beta", nn.initializers.constant(self.value), ())
    return beta + 0.0 * x[:, 0]


def _players(discriminator, *, lr: float = 1e-3, objective: str = "non_saturating",
             **step_config):
  """(GANSteps, initial GANState) for a small MLP G on 2-D data and ``discriminator``."""
  generator = mlp.MLPGenerator(out_shape=(2,), width=16, depth=1)
  optimizers = state.make_optimizers(
      ml_collections.ConfigDict(dict(g_lr=lr, d_lr=lr, b1=0.5, b2=0.9)))
  cfg = steps.StepConfig(objective=objective, num_devices=1, z_dim=2, **step_config)
  gan = steps.GANSteps(generator=generator, discriminator=discriminator,
                       optimizers=optimizers, cfg=cfg)
  init = state.create_state(jax.random.key(0), generator=generator, discriminator=discriminator,
                            optimizers=optimizers, z_dim=2, example_shape=(2,))
  return gan, init


def _d_step(gan, st, x, key=1):
  """One mapped D update on the real batch ``x``: (new canonical state, host metrics)."""
  d_step = PAR.map_step(gan.d_step, donate_state=False)
  new, metrics = d_step(PAR.put_state(st), PAR.put_batch({"x": jnp.asarray(x)}),
                        jax.random.key(key))
  return PAR.get_state(new), PAR.fetch(metrics)


def _real_batch():
  return np.random.default_rng(0).normal(size=(N, 2)).astype(np.float32)


def _d_inputs(std: float, anneal_steps: int, step: int) -> np.ndarray:
  """The (real; fake) batch D sees in a D update at ``step`` with instance noise ``std``."""
  gan, st = _players(RecordingCritic(), instance_noise_std=std,
                     instance_noise_anneal_steps=anneal_steps)
  SEEN.clear()
  _d_step(gan, st.replace(step=jnp.asarray(step, jnp.int32)), _real_batch())
  jax.effects_barrier()
  assert len(SEEN) == 1 and SEEN[0].shape == (2 * N, 2)
  return SEEN[0]


# ---- Instance noise --------------------------------------------------------------------------


def test_instance_noise_schedule():
  """σ(t) = σ₀·max(0, 1 - t/T), exactly 0 from t = T on (under jit too); σ₀ when T = 0."""
  schedule = jax.jit(steps.instance_noise_std, static_argnums=(1, 2))
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
  gan, st = _players(d, lr=0.1, objective="wgan", weight_clip=c)
  new, _ = _d_step(gan, st, _real_batch())
  leaves = [np.asarray(w) for w in jax.tree.leaves(new.d_params)]
  assert max(np.abs(w).max() for w in leaves) == pytest.approx(c)
  assert all(np.all(np.abs(w) <= c) for w in leaves)
  unclipped, _ = _d_step(*_players(d, lr=0.1, objective="wgan"), _real_batch())
  assert max(np.abs(np.asarray(w)).max() for w in jax.tree.leaves(unclipped.d_params)) > 10 * c


# ---- Gradient penalties on a linear critic ---------------------------------------------------


def test_r1_adds_half_gamma_w_squared_for_a_linear_critic():
  """R1 = E‖∇ₓD(x)‖² = ‖w‖² for D(x) = w·x + b, so d_loss grows by γ/2·‖w‖²."""
  gamma = 4.0
  plain, st = _players(LinearCritic())
  with_r1, _ = _players(LinearCritic(), r1_weight=gamma)
  w_sq = float(np.sum(np.asarray(st.d_params["Dense_0"]["kernel"]) ** 2))
  _, m0 = _d_step(plain, st, _real_batch())
  _, m1 = _d_step(with_r1, st, _real_batch())
  assert float(m1["r1"]) == pytest.approx(w_sq, rel=2e-4)  # a float32 mean of N terms
  assert float(m1["d_loss"]) - float(m0["d_loss"]) == pytest.approx(0.5 * gamma * w_sq,
                                                                    rel=1e-4)


def test_gradient_penalty_for_a_linear_critic():
  """WGAN-GP's E(‖∇D(x̂)‖ - 1)² = (‖w‖ - 1)² for a linear critic, weighted by λ."""
  gan, st = _players(LinearCritic(), objective="wgan_gp", gp_weight=10.0)
  w_norm = float(np.linalg.norm(np.asarray(st.d_params["Dense_0"]["kernel"])))
  _, m = _d_step(gan, st, _real_batch())
  assert float(m["gp"]) == pytest.approx((w_norm - 1.0) ** 2, rel=1e-4)
  assert float(m["d_loss"]) - float(m["d_adv_loss"]) == pytest.approx(
      10.0 * (w_norm - 1.0) ** 2, rel=1e-4)


# ---- Spectral normalisation ------------------------------------------------------------------


def test_spectral_norm_makes_each_d_layer_1_lipschitz():
  """After a few D updates (one power iteration each), W/σ̂ has top singular value ≈ 1."""
  model_config = ml_collections.ConfigDict(dict(
      name="mlp", width=32, depth=2, z_dim=2, spectral_norm=True, conditioning="projection",
      embed_dim=8))
  _, d = models.get(model_config, example_shape=(2,))
  gan, st = _players(d, lr=1e-4)
  d_step = PAR.map_step(gan.d_step, donate_state=False)
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
  """d_loss = CE(D(x), 1-ε) + CE(D(G(z)), 0): only the real target moves (one-sided)."""
  eps, beta = 0.1, 0.7
  _, m_plain = _d_step(*_players(ConstantCritic(beta), objective=objective), _real_batch())
  _, m_smooth = _d_step(*_players(ConstantCritic(beta), objective=objective,
                                  label_smoothing=eps), _real_batch())
  assert float(m_plain["d_loss"]) == pytest.approx(_bce(beta, 1.0) + _bce(beta, 0.0), rel=1e-5)
  assert float(m_smooth["d_loss"]) == pytest.approx(_bce(beta, 1 - eps) + _bce(beta, 0.0),
                                                    rel=1e-5)
  obj = losses.get(objective)
  real = jnp.array([-1.0, 0.5, 2.0])
  fake = jnp.array([0.3, -2.0, 1.0])
  expected = np.mean(_bce(np.asarray(real), 1 - eps)) + np.mean(_bce(np.asarray(fake), 0.0))
  assert float(obj.d_loss(real, fake, label_smoothing=eps)) == pytest.approx(expected, rel=1e-5)
