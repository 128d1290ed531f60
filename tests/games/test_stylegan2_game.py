"""The StyleGAN2 game: path-length penalty, lazy R1 with the adjusted Adam, ADA (pipeline against
stylegan2-ada-pytorch's outputs, p heuristic), truncation, style mixing and bitwise resume."""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import configs
from gan_jax.evaluation import stylegan2_sampling
from gan_jax.games import stylegan2 as game_lib
from gan_jax.games.updates import AXIS
from gan_jax.ops import ada
from gan_jax.training import experiment
from tests.helpers import FIXTURES, REPO, run_module

ADA_FIXTURE = os.path.join(FIXTURES, "ada_reference.npz")


def tiny_config(num_steps: int = 4):
  """A conditional StyleGAN2 on 8x8 digits: 8 channels, w of 8, ADA on."""
  c = configs.base_config()
  c.game, c.conditional = "stylegan2", True
  c.data.name, c.data.image_size = "digits", 8
  c.model.update(name="stylegan2", z_dim=8, w_dim=8, mapping_layers=2, channel_base=32,
                 channel_max=8, mbstd_group_size=4)
  c.optim.update(g_lr=0.0025, d_lr=0.0025, b1=0.0, b2=0.99)
  c.stylegan2.update(r1_gamma=1.0, r1_interval=2, pl_interval=2, ema_kimg=0.01,
                     ema_rampup=0.05)
  c.reg.update(ada_pipe="bgc", ada_target=0.6, ada_p=0.2, ada_interval=2, ada_kimg=1)
  c.train.update(batch_size=8, num_steps=num_steps, log_every=2, sample_every=2,
                 checkpoint_every=2, eval_at_end=False)
  return c


@pytest.fixture(scope="module")
def tiny():
  exp = experiment.build(tiny_config(), num_devices=1)
  return exp.game, exp.init_state()


@functools.cache
def _vstep(game):
  """train_step on one 'device' (a vmapped axis of size 1 named AXIS), compiled once per game."""
  step = jax.jit(jax.vmap(game.train_step, in_axes=(0, 0, None), axis_name=AXIS))
  batch_fn = game.batch_fn()

  def run(state, i):
    batch = jax.tree.map(lambda x: jnp.asarray(x)[None], batch_fn(i))
    return step(state, batch, jax.random.key(0))
  return run


def test_path_length_penalty_matches_a_hand_computation_and_its_gradient():
  """G(ws) = s·A·vec(ws), linear: L_i = |s|·√(mean_k ‖A_kᵀ y_i‖²) =: s·L0_i; a' = a + d(E sL0 - a);
  penalty = E (sL0_i - a')², d/ds = E 2(sL0_i - a')(L0_i - d·E L0) (through a')."""
  rng = np.random.default_rng(0)
  n, k, w_dim, pix = 3, 2, 4, 5
  a_mat = rng.normal(size=(pix, k, w_dim)).astype(np.float32)
  ws = jnp.asarray(rng.normal(size=(n, k, w_dim)), jnp.float32)
  noise = jnp.asarray(rng.normal(size=(n, pix)), jnp.float32)
  pl_mean, decay, s = 0.7, 0.01, 1.3

  def penalty(scale):
    synth = lambda w: scale * jnp.einsum("pkw,nkw->np", a_mat, w)  # noqa: E731
    return game_lib.path_length_penalty(synth, ws, noise, pl_mean, decay,
                                        mean_over_devices=lambda x: x)

  grads = np.einsum("pkw,np->nkw", a_mat, np.asarray(noise))  # Jᵀy per example (s = 1)
  l0 = np.sqrt(np.mean(np.sum(grads ** 2, axis=2), axis=1))
  mean = pl_mean + decay * (np.mean(s * l0) - pl_mean)
  value, new_mean = penalty(s)
  np.testing.assert_allclose(new_mean, mean, rtol=1e-5)
  np.testing.assert_allclose(value, np.mean((s * l0 - mean) ** 2), rtol=1e-5)
  hand_grad = np.mean(2 * (s * l0 - mean) * (l0 - decay * np.mean(l0)))
  np.testing.assert_allclose(jax.grad(lambda x: penalty(x)[0])(s), hand_grad, rtol=1e-4)


def test_lazy_regularisation_adjusts_adam_lr_and_betas():
  """lazy_adam(lr, β1, β2, interval) = Adam(lr·c, β1^c, β2^c), c = interval/(interval+1)."""
  params = {"w": jnp.ones((3,))}
  ref = optax.adam(0.0025 * 16 / 17, b1=0.5 ** (16 / 17), b2=0.99 ** (16 / 17), eps=1e-8)
  opt = game_lib.lazy_adam(0.0025, 0.5, 0.99, 16)
  s_ref, s_opt = ref.init(params), opt.init(params)
  for i in range(3):
    g = {"w": jnp.asarray([1.0, -2.0, 0.5]) * (i + 1)}
    u_ref, s_ref = ref.update(g, s_ref)
    u_opt, s_opt = opt.update(g, s_opt)
    np.testing.assert_allclose(u_opt["w"], u_ref["w"], rtol=1e-6)
  plain = optax.adam(0.0025, b1=0.5, b2=0.99).update(g, optax.adam(0.0025).init(params))[0]
  assert not np.allclose(plain["w"], u_opt["w"])


@pytest.mark.slow
def test_lazy_r1_and_path_length_run_only_on_their_intervals(tiny):
  """r1_interval = pl_interval = 2: R1 and path-length penalties (and their extra Adam steps)
  at steps 0 and 2 only; the players' optimisers are the lazily adjusted Adams."""
  game, state = tiny
  assert game.d_opt is not None
  state = jax.tree.map(lambda x: jnp.asarray(x)[None], state)
  run = _vstep(game)
  counts = []
  for i in range(4):
    state, metrics = run(state, i)
    assert (float(metrics["r1_penalty"][0]) > 0) == (i % 2 == 0), i
    assert (float(metrics["pl_penalty"][0]) > 0) == (i % 2 == 0), i
    counts.append((int(state.d_opt_state[0].count[0]), int(state.g_opt_state[0].count[0])))
  assert counts == [(2, 2), (3, 3), (5, 5), (6, 6)]
  grads = {"w": jnp.asarray([1.0, -1.0])}
  p = {"w": jnp.zeros(2)}
  expect = game_lib.lazy_adam(0.0025, 0.0, 0.99, 2).update(grads, optax.adam(1.0).init(p))[0]
  np.testing.assert_allclose(game.d_opt.update(grads, game.d_opt.init(p))[0]["w"], expect["w"])
  np.testing.assert_allclose(np.abs(expect["w"]), 0.0025 * 2 / 3, rtol=1e-4)


@pytest.mark.slow
def test_ada_pipeline_matches_stylegan2_ada_pytorch_at_fixed_parameters():
  """Geometric (flip, rotation, scale, fractional translation) and colour transforms at the
  reference's debug_percentile against AugmentPipe's outputs (benchmarks/ada_reference.py)."""
  from scipy.special import erfinv

  ref = np.load(ADA_FIXTURE)
  x = jnp.asarray(ref["x"])
  w = x.shape[2]

  def geo(g):
    return np.asarray(ada.geometric(x, jnp.stack([g] * len(x))))

  t = erfinv(0.7 * 2 - 1) * 0.125
  s = 2 ** (erfinv(0.8 * 2 - 1) * 0.2)
  for name, g in (("flip", ada.scale2d(-1.0, 1.0)), ("rot", ada.rotate2d(0.2 * np.pi)),
                  ("scale", ada.scale2d(1 / s, 1 / s)), ("xfrac", ada.translate2d(-t * w, -t * w))):
    np.testing.assert_allclose(geo(g), ref[name], atol=1e-4, err_msg=name)
  b, c = erfinv(0.4) * 0.2, 2 ** (erfinv(0.4) * 0.5)
  theta, sat = 0.4 * np.pi, 2 ** erfinv(0.4)
  v = np.asarray([1, 1, 1, 0]) / np.sqrt(3)
  vv, eye = np.outer(v, v), np.eye(4)
  cm = np.eye(4)
  cm[:3, 3] = b
  cm = np.diag([c, c, c, 1]) @ cm
  cm = (eye - 2 * vv) @ cm
  cm = np.asarray(ada.rotate3d(v, theta)) @ cm
  cm = (vv + (eye - vv) * sat) @ cm
  y = ada.apply_color(x, jnp.asarray(np.stack([cm] * len(x)), jnp.float32))
  np.testing.assert_allclose(np.asarray(y), ref["color"], atol=1e-5)
  same = ada.augment(x, jax.random.split(jax.random.key(0), len(x)), 0.0)
  np.testing.assert_allclose(np.asarray(same), np.asarray(x), atol=1e-3)  # p = 0: ≈ identity


def test_ada_p_moves_up_when_d_overfits_and_down_when_not():
  kw = dict(target=0.6, batch_size=64, interval=4, ada_kimg=500)
  step = 64 * 4 / 500_000
  up = ada.adjust_p(jnp.float32(0.1), jnp.float32(0.9 * 256), jnp.float32(256), **kw)
  down = ada.adjust_p(jnp.float32(0.1), jnp.float32(0.2 * 256), jnp.float32(256), **kw)
  np.testing.assert_allclose([up, down], [0.1 + step, 0.1 - step], rtol=1e-5)
  assert float(ada.adjust_p(jnp.float32(0.0), jnp.float32(0.0), jnp.float32(8), **kw)) == 0.0


@pytest.mark.slow
def test_ada_p_follows_the_sign_of_d_real_in_training(tiny):
  """ada_interval = 2, ada_kimg = 1: at the end of step 1, p ← p ± 8·2/1000 by the sign of
  r_t - 0.6, r_t the mean sign(D(real)) accumulated over steps 0-1 (here preset to ±1 over 10⁴
  logits, so the step's own 16-24 logits cannot flip it); then the sums restart."""
  game, state = tiny
  state = jax.tree.map(lambda x: jnp.asarray(x)[None], state)
  run = _vstep(game)
  state, _ = run(state, 0)
  assert float(state.ada_sign_count[0]) == 16  # D main's and R1's real logits (8 each)
  assert float(state.ada_p[0]) == pytest.approx(0.2)  # not due yet
  moved = {}
  for r_t in (1.0, -1.0):
    preset = state.replace(ada_sign_sum=jnp.full((1,), r_t * 1e4),
                           ada_sign_count=jnp.full((1,), 1e4))
    after, _ = run(preset, 1)
    moved[r_t] = float(after.ada_p[0]) - 0.2
    assert float(after.ada_sign_count[0]) == 0.0
  assert moved[1.0] == pytest.approx(0.016, abs=1e-6)  # D overfits: more augmentation
  assert moved[-1.0] == pytest.approx(-0.016, abs=1e-6)


@pytest.mark.slow
def test_truncation_and_style_mixing_outputs(tiny):
  game, state = tiny
  state = state.replace(w_avg=jnp.full_like(state.w_avg, 0.3))
  full = stylegan2_sampling.draw(game, state, num=4, seed=0)["images"]
  same = stylegan2_sampling.draw(game, state, num=4, seed=0, truncation=1.0)["images"]
  np.testing.assert_array_equal(full, same)
  z, labels = jax.random.normal(jax.random.key(1), (4, 8)), jnp.zeros((4,), jnp.int32)
  w = stylegan2_sampling.map_z(game, state, z, labels)
  at_avg = stylegan2_sampling.synthesize_w(game, state, stylegan2_sampling.truncate(w, state.w_avg,
                                                                                   0.0))
  np.testing.assert_allclose(at_avg, np.broadcast_to(at_avg[:1], at_avg.shape), atol=1e-6)
  half = stylegan2_sampling.truncate(w, state.w_avg, 0.5)
  np.testing.assert_allclose(half, 0.3 + 0.5 * (w - 0.3), rtol=1e-6)
  # the style-mixing grid: cutoff = num_ws copies the row latents, cutoff = 0 the column ones
  g = game.generator
  kw = dict(rows=2, cols=3, seed=0)
  all_row = stylegan2_sampling.style_mixing_grid(game, state, cutoff=g.num_ws, **kw)
  all_col = stylegan2_sampling.style_mixing_grid(game, state, cutoff=0, **kw)
  h = 8
  assert all_row.shape[:2] == (3 * h, 4 * h)
  for i in (1, 2):
    row_img = all_row[i * h:(i + 1) * h, :h]
    for j in (1, 2, 3):
      np.testing.assert_array_equal(all_row[i * h:(i + 1) * h, j * h:(j + 1) * h], row_img)
      np.testing.assert_array_equal(all_col[i * h:(i + 1) * h, j * h:(j + 1) * h],
                                    all_col[:h, j * h:(j + 1) * h])
  mixed = stylegan2_sampling.style_mixing_grid(game, state, cutoff=2, **kw)
  assert not np.array_equal(mixed[h:2 * h, h:2 * h], all_row[h:2 * h, h:2 * h])
  lerp = stylegan2_sampling.interpolation(game, state, pairs=2, steps=3, space="w")
  slerp = stylegan2_sampling.interpolation(game, state, pairs=2, steps=3, space="z")
  assert lerp.shape == slerp.shape and lerp.shape[:2] == (2 * h, 3 * h)
  np.testing.assert_array_equal(lerp[:, :h], slerp[:, :h])  # both start at z_a


@pytest.mark.slow
def test_truncated_evaluation_measures_the_truncated_samples(tiny, tmp_path):
  """ψ = 0 puts every sample at G(w̄) (one image, whatever z and c): no diversity left; ψ = 1 is
  the plain evaluation (with the path length), without a 'truncation' key."""
  game, state = tiny
  from gan_jax.evaluation import classifier

  clf = classifier.get_classifier(game.dataset, str(tmp_path), train_steps=60, log=lambda _: None)
  plain = game.evaluate(state, num=32, classifier=clf, cas_steps=0)
  at_avg = game.evaluate(state, num=32, classifier=clf, cas_steps=0, truncation=0.0)
  assert "truncation" not in plain and at_avg["truncation"] == 0.0
  assert np.isfinite(plain["ppl_w"]) and plain["ppl_w"] > 0.0 and "ppl_w" not in at_avg
  assert plain["diversity_fake"] > 0.0
  assert at_avg["diversity_fake"] < 1e-3 * plain["diversity_fake"]
  assert at_avg["fcd"] > plain["fcd"]


@pytest.mark.slow
def test_sample_cli_writes_the_latent_space_figures(tmp_path):
  """``gan_jax.sample --figure`` writes each grid as a PNG of the documented size; a non-PNG
  --out is refused in one line, exit 2, nothing written."""
  from PIL import Image

  from gan_jax.training import loop

  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(tiny_config(2), workdir)
  sizes = {"style_mixing": (7 * 8, 7 * 8), "interpolation_w": (6 * 8, 10 * 8),
           "interpolation_z": (6 * 8, 10 * 8)}
  for name, (h, w) in sizes.items():
    out = str(tmp_path / f"{name}.png")
    run_module("gan_jax.sample", f"--workdir={workdir}", f"--figure={name}", f"--out={out}",
               "--truncation=0.7")
    with Image.open(out) as img:
      assert img.size == (w, h), name
  proc = run_module("gan_jax.sample", f"--workdir={workdir}", "--figure=style_mixing",
                    f"--out={tmp_path / 'mix.npz'}", check=False)
  assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(
      "error: --out="), proc.stderr
  assert not os.path.exists(tmp_path / "mix.npz")


@pytest.mark.slow
def test_resume_of_a_stylegan2_run_with_ada_is_bitwise(tmp_path):
  """4 steps == 2 steps, stop, resume to 4: every leaf of the state (ADA's p and sign sums,
  the path-length mean, w̄, the EMA) bitwise."""
  from gan_jax.training import loop

  full = loop.train_and_evaluate(tiny_config(4), str(tmp_path / "full"))["state"]
  loop.train_and_evaluate(tiny_config(2), str(tmp_path / "part"))
  resumed = loop.train_and_evaluate(tiny_config(4), str(tmp_path / "part"))["state"]
  assert int(full.step) == int(resumed.step) == 4
  assert float(full.ada_p) != 0.2 and float(full.pl_mean) != 0.0
  paths = jax.tree_util.tree_leaves_with_path(full)
  for (path, a), b in zip(paths, jax.tree.leaves(resumed), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=str(path))


@pytest.mark.slow
def test_perceptual_path_length_is_a_finite_difference_of_the_image_path(tiny):
  """With dist = squared pixel L2, d = ‖G(w + ε Δw) - G(w)‖²/ε² → ‖J Δw‖²: the same at ε = 1e-3
  and 1e-4 ('end' sampling), and PPL is the mean of d within its 1st-99th percentiles."""
  from gan_jax.evaluation import ppl

  game, state = tiny
  pixel = lambda a, b: np.sum(np.square(a - b), axis=(1, 2, 3))  # noqa: E731
  d3 = ppl.path_distances(game, state, pixel, num=16, epsilon=1e-3)
  d4 = ppl.path_distances(game, state, pixel, num=16, epsilon=1e-4)
  assert np.all(d4 > 0)
  np.testing.assert_allclose(d4, d3, rtol=0.05)
  value = ppl.perceptual_path_length(game, state, pixel, num=16, epsilon=1e-4)
  lo, hi = np.percentile(d4, 1, method="lower"), np.percentile(d4, 99, method="higher")
  assert value == pytest.approx(d4[(d4 >= lo) & (d4 <= hi)].mean())
  dz = ppl.path_distances(game, state, pixel, num=16, space="z", sampling="full")
  assert np.all(np.isfinite(dz))


def _experiment(name):
  import importlib.util

  path = os.path.join(REPO, "experiments", name)
  module_spec = importlib.util.spec_from_file_location(name[:-3], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config()


def test_the_stylegan2_experiment_configs_validate_and_expand():
  from gan_jax.sweeps import spec

  mnist = _experiment("stylegan2_mnist.py")
  configs.validate(mnist, num_devices=1)
  game = experiment.build(mnist, num_devices=1).game
  assert game.resolution == 32 and game.generator.out_shape == (28, 28, 1)
  cifar = _experiment("cifar10_stylegan2.py")
  configs.validate(cifar, num_devices=1)
  assert (cifar.model.mapping_layers, cifar.model.d_architecture, cifar.stylegan2.r1_gamma,
          cifar.stylegan2.pl_weight, cifar.stylegan2.style_mixing_prob) == (2, "orig", 0.01, 0.0,
                                                                             0.0)
  runs = spec.expand_sweep(_experiment("ablation_stylegan2.py"))
  assert len(runs) == 12
  assert {r.config.game for r in runs} == {"stylegan2"}


def test_ada_on_a_game_without_it_and_an_unknown_pipe_are_config_errors():
  from gan_jax.errors import ConfigError

  c = configs.base_config()
  c.reg.ada_pipe = "bgc"
  with pytest.raises(ConfigError, match="reg.ada_pipe"):
    configs.validate(c, num_devices=1)
  c.game, c.reg.ada_pipe = "stylegan2", "bgcfnc"
  with pytest.raises(ConfigError, match="reg.ada_pipe='bgcfnc' is unknown"):
    configs.validate(c, num_devices=1)


@pytest.mark.slow
def test_two_devices_train_like_one():
  """The same global batch on 2 devices (a vmapped axis of size 2) and on 1: every draw (z,
  labels, mixing, noise, ADA, path-length noise) is made for the global batch and sliced, so the
  states agree up to the order of the gradient sums (minibatch-stddev groups of 1, which do not
  depend on how the batch is split)."""
  c = tiny_config()
  c.model.mbstd_group_size = 1
  games = [experiment.build(c, num_devices=n).game for n in (1, 2)]
  state = games[0].init_state(jax.random.key(0))
  batches = [games[0].batch_fn()(i) for i in range(2)]
  out = []
  for n, game in zip((1, 2), games, strict=True):
    step = jax.jit(jax.vmap(game.train_step, in_axes=(0, 0, None), axis_name=AXIS))
    s = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * n), state)  # noqa: B023
    for batch in batches:
      split = jax.tree.map(lambda x: jnp.stack(jnp.split(jnp.asarray(x), n)), batch)  # noqa: B023
      s, _ = step(s, split, jax.random.key(0))
    out.append(jax.tree.map(lambda x: np.asarray(x[0]), s))
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(out[0]), jax.tree.leaves(out[1]),
                          strict=True):
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-5, err_msg=str(path))
