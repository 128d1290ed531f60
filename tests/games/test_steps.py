"""The G update's gradient, and the shared G forward pass of train.g_reuses_d_latents."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.games import gan_state, gan_steps
from gan_jax.models import dcgan, mlp
from gan_jax.training import experiment, parallel
from tests.helpers import gan_players, load_config, mapped_d_step, mapped_g_step

PAR = parallel.DataParallel("pmap", devices=jax.devices()[:1])


def _experiment(**train):
  config = load_config("experiments/tiny.py")
  config.model.width = 16  # keep the compile small
  for field, value in train.items():
    config.train[field] = value
  return experiment.build(config, num_devices=1)


def _conditional_bn_players(objective="non_saturating"):
  """(gan_steps.Steps with SGD(lr=1) for both players, initial state, G without the device axis)
  for a small conditional DCGAN G (BatchNorm, label embedding), projection MLP D, 8x8x1 images."""
  generator = dcgan.DCGAN28Generator(out_shape=(8, 8, 1), base_size=2, channels=(8, 4),
                                     num_classes=3, embed_dim=4, axis_name=gan_steps.AXIS,
                                     conv_impl="stock")
  discriminator = mlp.MLPDiscriminator(width=16, depth=1, num_classes=3)
  sgd = gan_state.Optimizers(g=optax.sgd(1.0), d=optax.sgd(1.0))
  cfg = gan_steps.StepConfig(objective=objective, num_devices=1, z_dim=4, num_classes=3)
  gan = gan_steps.bind(generator=generator, discriminator=discriminator, optimizers=sgd, cfg=cfg)
  init = gan_state.create_state(jax.random.key(1), generator=generator, discriminator=discriminator,
                            optimizers=sgd, z_dim=4, example_shape=(8, 8, 1), num_classes=3)
  return gan, init, generator.clone(axis_name=None)


def test_g_step_gradient_is_the_gradient_of_the_composition():
  """With SGD(lr=1), θ - θ' is the whole gradient tree: the pullback of ∇ₓ g_loss(D(x, c))
  through a G with BatchNorm and labels equals jax.grad of g_loss(D(G_θ(z, c), c)), leaf by
  leaf; G's BatchNorm statistics are those of that forward pass."""
  gan, s, g_local = _conditional_bn_players()
  assert s.g_batch_stats and "label_embed" in s.g_params
  key = jax.random.key(5)
  new, metrics = PAR.map_step(lambda st, _, k: gan.g_update(st, 16, k), donate_state=False)(
      PAR.put_state(s), PAR.put_batch({"x": np.zeros((16, 8, 8, 1), np.float32)}), key)
  new = PAR.get_state(new)
  z, labels = gan_steps.sample_latents(jax.random.split(key)[0], 16, gan.cfg)
  assert len(set(np.asarray(labels).tolist())) > 1

  def composed(g_params):
    fake, updates = g_local.apply({"params": g_params, "batch_stats": s.g_batch_stats}, z,
                                  labels, train=True, mutable=["batch_stats"])
    logits = gan.discriminator.apply({"params": s.d_params}, fake, labels, train=False)
    return gan.objective.g_loss(logits), updates["batch_stats"]

  direct, batch_stats = jax.jit(jax.grad(composed, has_aux=True))(s.g_params)
  stepped = jax.tree.map(lambda old, updated: old - updated, s.g_params, new.g_params)
  assert jax.tree.structure(stepped) == jax.tree.structure(direct)
  for path, want in jax.tree_util.tree_leaves_with_path(direct):
    got = next(v for p, v in jax.tree_util.tree_leaves_with_path(stepped) if p == path)
    assert float(jnp.max(jnp.abs(want))) > 0, path
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4,
                               atol=1e-4 * float(jnp.max(jnp.abs(want))), err_msg=str(path))
  np.testing.assert_allclose(float(PAR.fetch(metrics)["g_grad_norm"]),
                             float(optax.tree.norm(direct)), rtol=1e-5)
  for want, got in zip(jax.tree.leaves(batch_stats), jax.tree.leaves(new.g_batch_stats),
                       strict=True):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)
  assert not jax.tree.all(jax.tree.map(jnp.array_equal, batch_stats, s.g_batch_stats))


def test_shared_forward_pass_gives_g_and_the_last_d_update_the_same_fakes():
  """With g_reuses_d_latents the G update sees the fakes D was trained on; without, others."""
  outcomes = {}
  for reuse in (False, True):
    exp = _experiment(g_reuses_d_latents=reuse)
    seen = []

    def d_spy(state, batch, key, *, generated=None, seen=seen, **deps):
      if generated is not None:
        jax.debug.callback(lambda x: seen.append(("d", np.asarray(x))), generated.fake)
      return gan_steps.d_update(state, batch, key, generated=generated, **deps)

    def g_spy(state, local_batch, key, *, generated=None, seen=seen, **deps):
      if generated is not None:
        jax.debug.callback(lambda x: seen.append(("g", np.asarray(x))), generated.fake)
      return gan_steps.g_update(state, local_batch, key, generated=generated, **deps)

    bound = exp.steps
    spied = gan_steps.bind(generator=bound.generator, discriminator=bound.discriminator,
                       optimizers=exp.optimizers, cfg=bound.cfg, d_update=d_spy, g_update=g_spy)
    batch = {"x": np.random.default_rng(0).normal(size=(16, 1, 2)).astype(np.float32)}
    state, metrics = PAR.map_step(spied.train_step)(
        PAR.put_state(exp.init_state()), PAR.put_batch(batch), jax.random.key(0))
    jax.block_until_ready(state)
    assert np.isfinite(PAR.fetch(metrics)["g_loss"])
    outcomes[reuse] = seen
  assert outcomes[False] == []
  (who_d, fakes_d), (who_g, fakes_g) = outcomes[True]
  assert (who_d, who_g) == ("d", "g") and fakes_d.shape == (16, 2)
  np.testing.assert_array_equal(fakes_d, fakes_g)


# ---- Spectral norm: one power iteration per D update, and the penalties see the same σ -------


def _power_iteration(u, kernel):
  """One step of flax's power iteration on W = kernel as a (-1, out) matrix from u (1, out):
  v = ‖uWᵀ‖⁻¹ uWᵀ, u' = ‖vW‖⁻¹ vW; returns (u', σ = v W u'ᵀ), in float64."""
  w = np.asarray(kernel, np.float64).reshape(-1, np.shape(kernel)[-1])
  v = np.asarray(u, np.float64) @ w.T
  v /= np.linalg.norm(v)
  u_next = v @ w
  u_next /= np.linalg.norm(u_next)
  return u_next, float((v @ w @ u_next.T)[0, 0])


def _sn_vectors(d_batch_stats) -> dict:
  """{(module, param): u} for every spectrally normalised weight of D."""
  out = {}
  for group in d_batch_stats.values():
    for name, value in group.items():
      if name.endswith("/u"):
        module, param, _ = name.split("/")
        out[(module, param)] = np.asarray(value)
  return out


@pytest.mark.parametrize("penalty", ["r1", "gp"])
def test_spectral_norm_u_advances_by_one_power_iteration_per_d_step(penalty):
  """One D update of a projection D with spectral norm (R1 with the non-saturating loss, or
  WGAN-GP, each evaluating D again): every stored u (the projection embedding's included) takes
  exactly one power-iteration step from its stored value on the old weights, and the penalty is
  that of W/σ with the σ of that step (the adversarial term's), computed here by hand with the
  real labels; the G update leaves every u alone."""
  from gan_jax import losses

  objective, extra = ("non_saturating", dict(r1_weight=1.0)) if penalty == "r1" else (
      "wgan_gp", {})
  d = mlp.MLPDiscriminator(width=8, depth=2, num_classes=3, spectral_norm=True)
  gan, s = gan_players(d, objective=objective, num_classes=3, lr=1e-2, seed=3, **extra)
  old = _sn_vectors(s.d_batch_stats)
  assert set(old) == {("Dense_0", "kernel"), ("Dense_1", "kernel"), ("Dense_2", "kernel"),
                      ("proj_embed", "embedding")}
  rng = np.random.default_rng(0)
  x_real = rng.normal(size=(16, 2)).astype(np.float32)
  y_real = np.arange(16, dtype=np.int32) % 3
  fake = rng.normal(1.0, 1.0, size=(16, 2)).astype(np.float32)
  y_fake = (np.arange(16, dtype=np.int32) + 1) % 3
  new, metrics = mapped_d_step(gan, s, {"x": x_real, "y": y_real}, key=11,
                               generated=(fake, jnp.asarray(y_fake)))

  moved, sigmas = _sn_vectors(new.d_batch_stats), {}
  for (module, param), u in old.items():
    u_next, sigmas[module] = _power_iteration(u, s.d_params[module][param])
    np.testing.assert_allclose(moved[(module, param)], u_next, rtol=1e-4, atol=1e-5,
                               err_msg=module)
  assert not np.allclose(moved[("Dense_0", "kernel")], old[("Dense_0", "kernel")], atol=1e-3)

  def critic(x):
    """D(x, y_real) = ψ(φ(x)) + <E[y]/σ_E, φ(x)>, every weight divided by its σ."""
    h = x
    for i in range(2):
      layer = s.d_params[f"Dense_{i}"]
      h = jax.nn.leaky_relu(h @ (layer["kernel"] / sigmas[f"Dense_{i}"]) + layer["bias"], 0.2)
    out = s.d_params["Dense_2"]
    logit = (h @ (out["kernel"] / sigmas["Dense_2"]) + out["bias"])[:, 0]
    table = s.d_params["proj_embed"]["embedding"] / sigmas["proj_embed"]
    return logit + jnp.sum(table[y_real] * h, axis=-1)

  if penalty == "r1":
    expected = losses.r1_penalty(critic, x_real)
  else:
    alpha = jax.random.uniform(jax.random.split(jax.random.key(11), 4)[1], (16,))
    expected = losses.gradient_penalty(critic, x_real, fake, alpha=alpha)
  assert float(metrics[penalty]) > 1e-3
  np.testing.assert_allclose(float(metrics[penalty]), float(expected), rtol=1e-4)

  after_g, _ = mapped_g_step(gan, new, 16)
  jax.tree.map(np.testing.assert_array_equal, after_g.d_batch_stats, new.d_batch_stats)


# ---- EMA of G: warm-up, start step, and skipped updates --------------------------------------


def test_ema_decay_warms_up_and_starts_at_the_start_step():
  from gan_jax.games import gan_steps as steps_lib

  t = np.arange(0, 20000)
  np.testing.assert_allclose(np.asarray(steps_lib.ema_decay_at(t, 0.999)),
                             np.minimum(0.999, (1.0 + t) / (10.0 + t)), rtol=1e-6)
  late = np.asarray(steps_lib.ema_decay_at(t, 0.999, start_step=1000))
  assert np.all(late[:1000] == 0.0)  # a copy of G
  np.testing.assert_allclose(late[1000:], np.minimum(0.999, (1.0 + t[:-1000]) / (10.0 + t[:-1000])),
                             rtol=1e-6)
  assert float(steps_lib.ema_decay_at(8, 0.999)) == pytest.approx(0.5)
  assert float(steps_lib.ema_decay_at(10 ** 6, 0.999)) == pytest.approx(0.999)


def test_ema_warmup_none_is_studiogans_constant_decay_from_the_start_step():
  """StudioGAN's Ema (src/utils/ema.py): decay 0 before start_iter, then the constant decay."""
  from gan_jax.games import gan_steps as steps_lib

  t = np.arange(0, 20000)
  d = np.asarray(steps_lib.ema_decay_at(t, 0.9999, start_step=1000, warmup="none"))
  assert np.all(d[:1000] == 0.0)
  np.testing.assert_allclose(d[1000:], 0.9999, rtol=1e-7)


@pytest.mark.parametrize("recipe", ["cifar10_biggan", "cifar10_sngan", "cifar10_dcgan",
                                    "cifar10_wgan_gp"])
def test_the_cifar_recipes_use_studiogans_ema_schedule(recipe):
  config = load_config(f"experiments/{recipe}.py")
  assert config.ema_warmup == "none"
  if recipe == "cifar10_biggan":
    assert (config.ema_decay, config.ema_start_step) == (0.9999, 1000)


@pytest.mark.parametrize("warmup, decays", [
    ("tf", ((0, 0.0), (999, 0.0), (1000, 0.1), (1008, 0.5), (30000, 0.999), (10**6, 0.999))),
    ("none", ((0, 0.0), (999, 0.0), (1000, 0.999), (1008, 0.999), (10**6, 0.999)))])
def test_g_step_updates_the_ema_with_the_warmed_up_decay(warmup, decays):
  """ema' = d·ema + (1 - d)·θ' with θ' G's params after the update (which moved) and d the decay
  of the run's config (ema_decay 0.999 from ema_start_step 1000): a copy of G before
  ema_start_step, then min(decay, (1 + t)/(10 + t)) ('tf') or decay ('none') from it, and the
  configured decay long after any warm-up."""
  config = load_config("experiments/tiny.py")
  config.ema_decay, config.ema_start_step, config.ema_warmup = 0.999, 1000, warmup
  cfg = gan_steps.StepConfig.from_config(config, num_devices=1, num_classes=0)
  gan, s0 = gan_players(mlp.MLPDiscriminator(width=16, depth=1), ema_decay=cfg.ema_decay,
                        ema_start_step=cfg.ema_start_step, ema_warmup=cfg.ema_warmup)
  for step, decay in decays:
    s = s0.replace(step=jnp.asarray(step, jnp.int32),
                   ema_g_params=jax.tree.map(lambda p: p + 1.0, s0.g_params))  # ema ≠ θ
    new, _ = mapped_g_step(gan, s, 16)
    assert not jax.tree.all(jax.tree.map(jnp.array_equal, new.g_params, s.g_params))
    for ema, old_ema, params in zip(jax.tree.leaves(new.ema_g_params),
                                    jax.tree.leaves(s.ema_g_params),
                                    jax.tree.leaves(new.g_params), strict=True):
      np.testing.assert_allclose(
          np.asarray(ema), decay * np.asarray(old_ema) + (1 - decay) * np.asarray(params),
          rtol=1e-6, atol=1e-7, err_msg=f"step {step}")


class BatchNormGenerator(nn.Module):
  """G(z) = Dense(BatchNorm(Dense(z))): running statistics that a G update moves."""

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = True):
    h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(nn.Dense(4)(z))
    return nn.Dense(2)(h)


def test_the_ema_of_gs_batchnorm_statistics_moves_with_the_g_update():
  """ema_bn_stats='ema': after a G update, ema_bs' = d·ema_bs + (1 - d)·bs' with bs' G's new
  running statistics (which moved), and sampling uses ema_bs'."""
  from gan_jax.evaluation import sampling

  gan, s = gan_players(mlp.MLPDiscriminator(width=8, depth=1), generator=BatchNormGenerator(),
                       ema_decay=0.75, ema_warmup="none")
  s = s.replace(ema_g_batch_stats=jax.tree.map(lambda v: v + 1.0, s.ema_g_batch_stats))
  new, _ = mapped_g_step(gan, s, 64)
  moved = [float(np.max(np.abs(a - b))) for a, b in zip(
      jax.tree.leaves(new.g_batch_stats), jax.tree.leaves(s.g_batch_stats), strict=True)]
  assert min(moved) > 1e-3
  expected = jax.tree.map(lambda e, b: 0.75 * e + 0.25 * b, s.ema_g_batch_stats,
                          new.g_batch_stats)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               new.ema_g_batch_stats, expected)
  config = load_config("experiments/tiny.py")
  config.ema_decay, config.ema_bn_stats = 0.75, "ema"
  exp = type("Exp", (), {"config": config})()
  variables = sampling.sampling_variables(exp, new)
  jax.tree.map(np.testing.assert_array_equal, variables["batch_stats"], new.ema_g_batch_stats)


def test_ds_linear_learning_rate_schedule_counts_d_updates():
  """optim.schedule='linear' with n_critic = 5 (mog.py:wgan_gp): D's rate falls to 0 over the
  run's num_steps·n_critic D updates, G's over its num_steps G updates. Adam on a constant
  gradient moves a parameter by -lr_t per update, so the steps read off each rate."""
  config = load_config("experiments/mog.py", "wgan_gp")
  config.train.num_steps = 100
  exp = experiment.build(config, num_devices=1)
  assert (config.optim.schedule, config.train.n_critic) == ("linear", 5)

  def rates(optimizer, updates: int) -> np.ndarray:
    p, opt_state, out = jnp.zeros(()), optimizer.init(jnp.zeros(())), []
    for _ in range(updates):
      u, opt_state = optimizer.update(jnp.ones(()), opt_state, p)
      out.append(-float(u))
    return np.asarray(out)

  d_rates = rates(exp.optimizers.d, 500)
  np.testing.assert_allclose(d_rates, config.optim.d_lr * (1 - np.arange(500) / 500),
                             rtol=1e-3, atol=1e-9)
  g_rates = rates(exp.optimizers.g, 100)
  np.testing.assert_allclose(g_rates, config.optim.g_lr * (1 - np.arange(100) / 100),
                             rtol=1e-3, atol=1e-9)


def test_a_skipped_nonfinite_g_update_leaves_g_and_its_ema_untouched():
  """With skip_nonfinite, a G update whose loss is NaN (D's params are) changes nothing of G
  (params, optimiser state, EMA, bitwise) and is counted, in the metrics and in the state."""
  gan, s = gan_players(mlp.MLPDiscriminator(width=16, depth=1), ema_decay=0.5,
                       skip_nonfinite=True)
  s = s.replace(ema_g_params=jax.tree.map(lambda p: p + 1.0, s.g_params),  # ema ≠ θ
                d_params=jax.tree.map(lambda p: jnp.full_like(p, jnp.nan), s.d_params))
  new, metrics = mapped_g_step(gan, s, 16)
  assert int(metrics["g_nonfinite"]) == 1 and int(new.skipped_updates) == 1
  for field in ("g_params", "ema_g_params", "g_opt_state"):
    jax.tree.map(np.testing.assert_array_equal, getattr(new, field), getattr(s, field))


# ---- train.scan_critic: the n_critic D updates as one rolled loop -----------------------------


def _eqns(jaxpr):
  """The equations of ``jaxpr`` and of every jaxpr nested in them (jit, scan, cond bodies)."""
  for eqn in jaxpr.eqns:
    yield eqn
    for param in eqn.params.values():
      for sub in param if isinstance(param, tuple | list) else (param,):
        sub = getattr(sub, "jaxpr", sub)
        if hasattr(sub, "eqns"):
          yield from _eqns(sub)


@pytest.mark.parametrize("reuse", [False, True])
def test_scanned_critic_updates_equal_the_unrolled_ones(reuse):
  """n_critic = 3 D updates (spectral-norm D: its u vectors ride in the loop carry) then G, two
  train steps: the rolled loop runs the updates the unrolled one runs, and it is one scan of
  3 updates (2 when the last shares G's forward pass, which stays unrolled)."""
  batch = {"x": np.random.default_rng(0).normal(size=(16, 3, 2)).astype(np.float32)}
  results = {}
  for scan in (False, True):
    config = load_config("experiments/tiny.py")
    config.model.width, config.model.spectral_norm = 16, True
    config.train.n_critic, config.train.scan_critic = 3, scan
    config.train.g_reuses_d_latents = reuse
    exp = experiment.build(config, num_devices=1)
    init = exp.init_state()
    jaxpr = jax.make_jaxpr(exp.steps.train_step, axis_env=[(gan_steps.AXIS, 1)])(
        init, batch, jax.random.key(0))
    lengths = [e.params["length"] for e in _eqns(jaxpr.jaxpr) if e.primitive.name == "scan"]
    assert lengths == ([3 - reuse] if scan else [])
    step = PAR.map_step(exp.steps.train_step, donate_state=False)
    st = PAR.put_state(init)
    for _ in range(2):
      st, metrics = step(st, PAR.put_batch(batch), jax.random.key(0))
    results[scan] = (jax.tree.leaves(PAR.get_state(st)), PAR.fetch(metrics))
  (unrolled, m_unrolled), (scanned, m_scanned) = results[False], results[True]
  for a, b in zip(unrolled, scanned, strict=True):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
  assert m_scanned.keys() == m_unrolled.keys()
  for k in m_unrolled:
    np.testing.assert_allclose(m_scanned[k], m_unrolled[k], rtol=1e-5, atol=1e-6, err_msg=k)


# ---- A BatchNorm D: real and fake normalised apart, and G's fakes by their batch statistics --


class _BatchNormD(nn.Module):
  """Dense(8), BatchNorm, ReLU, Dense(1) on 2-D points."""

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = True):
    h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(nn.Dense(8)(x))
    return nn.Dense(1)(nn.relu(h))[:, 0]


def _batch_stat_forward(d, params, stats, x):
  """D(x) in train mode (x's own batch statistics) and the running averages after it."""
  out, updates = d.apply({"params": params, "batch_stats": stats}, x, train=True,
                         mutable=["batch_stats"])
  return out, updates["batch_stats"]


def test_batchnorm_d_normalises_real_and_fake_apart_and_g_sees_batch_statistics():
  """StudioGAN's updates of a BatchNorm D (DCGAN recipe): the D update calls D(real) then
  D(fake), each normalised by its own batch, the running averages updated by each in turn; the
  G update's D(G(z)) uses the fakes' batch statistics and leaves D's averages alone."""
  d = _BatchNormD()
  gan, st = gan_players(d, seed=2)
  rng = np.random.default_rng(0)
  real = rng.normal(size=(8, 2)).astype(np.float32)
  fake = (rng.normal(size=(8, 2)) * 3 + 5).astype(np.float32)  # far from the real batch
  obj = gan.objective
  real_out, stats = _batch_stat_forward(d, st.d_params, st.d_batch_stats, real)
  fake_out, stats = _batch_stat_forward(d, st.d_params, stats, fake)
  new, metrics = mapped_d_step(gan, st, {"x": real}, generated=(fake, None))
  np.testing.assert_allclose(metrics["d_loss"], obj.d_loss(real_out, fake_out), rtol=1e-5)
  for a, b in zip(jax.tree.leaves(new.d_batch_stats), jax.tree.leaves(stats), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)

  z = rng.normal(size=(8, 2)).astype(np.float32)
  g_fake = gan.generator.apply({"params": new.g_params}, z)
  g_out, _ = _batch_stat_forward(d, new.d_params, new.d_batch_stats, g_fake)
  after_g, g_metrics = mapped_g_step(gan, new, 8, latents=(z, None))
  np.testing.assert_allclose(g_metrics["g_loss"], obj.g_loss(g_out), rtol=1e-5)
  for a, b in zip(jax.tree.leaves(after_g.d_batch_stats), jax.tree.leaves(new.d_batch_stats),
                  strict=True):
    np.testing.assert_array_equal(a, b)
