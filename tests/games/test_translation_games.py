"""Pix2Pix and CycleGAN (gan_jax.games.pix2pix, .cyclegan): their new losses, their networks,
what each loss term does to a few steps of training, exact resume, and k devices == 1 device."""

from __future__ import annotations

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import configs, losses
from gan_jax.data.translation import TranslationData
from gan_jax.errors import ConfigError
from gan_jax.games import updates
from gan_jax.models import translation as nets
from gan_jax.training import experiment, parallel
from tests.helpers import run_script

SIZE = 12  # tiny images: every network here works at any multiple of 4


def blobs(n: int, seed: int) -> np.ndarray:
  """(n, SIZE, SIZE, 1) in [-1, 1]: one Gaussian blob per image at a random place and width."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:SIZE, :SIZE]
  cy, cx = rng.uniform(2, SIZE - 3, (2, n, 1, 1))
  width = rng.uniform(1.5, 3.0, (n, 1, 1))
  img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width ** 2))
  return (2 * img - 1)[..., None].astype(np.float32)


def stripes(n: int, seed: int) -> np.ndarray:
  """(n, SIZE, SIZE, 1) in [-1, 1]: vertical stripes of a random phase."""
  rng = np.random.default_rng(seed)
  phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
  img = np.sin(np.arange(SIZE)[None, None, :] * 1.3 + phase) * np.ones((1, SIZE, 1))
  return img[..., None].astype(np.float32)


def paired_data() -> TranslationData:
  """b = -a, the blob inverted: a generator must read its input to place it."""
  a, test_a = blobs(256, 0), blobs(64, 1)
  return TranslationData("tiny_pairs", True, a, -a, test_a, -test_a, {}, "input")


def unpaired_data() -> TranslationData:
  return TranslationData("tiny_unpaired", False, blobs(256, 2), stripes(200, 3),
                         blobs(64, 4), stripes(64, 5), {}, "input")


def tiny_config(game: str, **translation) -> configs.ml_collections.ConfigDict:
  c = configs.base_config()
  c.game = game
  c.translation.update(ngf=8, ndf=8, unet_depth=2, resnet_blocks=1, pool_size=4, **translation)
  c.optim.update(g_lr=2e-3, d_lr=2e-3, schedule="constant")
  c.train.update(batch_size=8, num_steps=4, log_every=2, sample_every=2, checkpoint_every=2,
                 eval_at_end=False)
  return c


def batches(data, batch_size: int):
  """Host batches of train step s: a pure function of s (as the data module's are)."""
  def batch(step):
    rng = np.random.default_rng(step)
    a = rng.choice(data.num_train_a, batch_size, replace=False)
    b = a if data.paired else rng.choice(data.num_train_b, batch_size, replace=False)
    return {"a": data.train_a[a], "b": data.train_b[b]}
  return batch


def train(config, data, steps: int):
  """(experiment, state, last metrics) after ``steps`` train steps on one device."""
  par = parallel.DataParallel("pmap", jax.devices()[:1])
  exp = experiment.build(config, num_devices=1, dataset=data)
  step_fn = par.map_step(exp.game.train_step)
  state = par.put_state(exp.init_state())
  batch = batches(data, config.train.batch_size)
  for s in range(steps):
    state, metrics = step_fn(state, par.put_batch(batch(s)), jax.random.key(0))
  return exp, par.get_state(state), par.fetch(metrics)


# ---- losses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss, args", [
    (losses.l1_reconstruction, ("out", "target")),
    (losses.cycle_consistency, ("target", "out")),
    (losses.identity_loss, ("target", "out")),
])
def test_l1_terms_and_their_gradients(loss, args):
  """E|o - t| and ∂/∂o = sign(o - t)/n, for each of the three L1 terms."""
  rng = np.random.default_rng(0)
  out, target = rng.normal(size=(2, 3, 4, 4, 1)).astype(np.float32)
  call = lambda o: loss(*(o if a == "out" else target for a in args))  # noqa: E731
  np.testing.assert_allclose(call(out), np.mean(np.abs(out - target)), rtol=1e-6)
  np.testing.assert_allclose(jax.grad(call)(jnp.asarray(out)),
                             np.sign(out - target) / out.size, rtol=1e-6)


def test_constant_then_linear_schedule_holds_then_decays_to_zero():
  rate = updates.constant_then_linear(2e-4, 100)
  np.testing.assert_allclose([rate(t) for t in (0, 49, 50, 75, 100)],
                             [2e-4, 2e-4, 2e-4, 1e-4, 0.0], rtol=1e-6, atol=1e-12)


# ---- networks ----------------------------------------------------------------------------------


def test_patchgan_receptive_fields_and_map_size():
  assert [nets.receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]
  d = nets.PatchDiscriminator(ndf=4, n_layers=1, norm="none")
  x = jnp.zeros((2, 28, 28, 1))
  assert d.apply(d.init(jax.random.key(0), x, train=False), x, train=False).shape == (2, 12, 12)


def test_patchgan_output_depends_only_on_its_16x16_patch():
  """Changing one input pixel moves only the outputs whose 16x16 field covers it."""
  d = nets.PatchDiscriminator(ndf=4, n_layers=1, norm="none")
  x = jax.random.normal(jax.random.key(0), (1, 28, 28, 1))
  variables = d.init(jax.random.key(1), x, train=False)
  moved = np.asarray(d.apply(variables, x.at[0, 0, 0, 0].add(1.0), train=False)
                     != d.apply(variables, x, train=False))[0]
  # Output (i, j) reads the 16 input rows 2i - 5 .. 2i + 10 (padding 1 at each of its three
  # layers), so pixel (0, 0) reaches outputs 0..2 along each axis and no further.
  assert moved[:3, :3].all() and moved.sum() == 9


@pytest.mark.parametrize("shape_in", [(7, 7, 1), (28, 28, 1)])
def test_unet_maps_its_input_to_the_target_size(shape_in):
  g = nets.UNetGenerator(out_shape=(28, 28, 1), channels=(4, 8, 8, 8), norm="batch")
  x = jnp.zeros((2, *shape_in))
  variables = g.init(jax.random.key(0), x, train=False)
  out = g.apply(variables, x, train=False)
  assert out.shape == (2, 28, 28, 1) and float(jnp.abs(out).max()) <= 1.0


def test_unet_dropout_is_its_only_noise_and_is_drawn_per_example():
  g = nets.UNetGenerator(out_shape=(SIZE, SIZE, 1), channels=(4, 8, 8), norm="none",
                         dropout_blocks=1)
  x = jnp.asarray(blobs(3, 0))
  variables = g.init(jax.random.key(0), x, train=False)
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(5), i))(jnp.arange(3))
  one = g.apply(variables, x, train=True, example_keys=keys)
  assert not np.allclose(one, g.apply(variables, x, train=True, example_keys=keys[::-1]))
  # Example 1 alone, with its own key, gets the same output as inside the batch.
  np.testing.assert_allclose(g.apply(variables, x[1:2], train=True, example_keys=keys[1:2]),
                             one[1:2], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(g.apply(variables, x, train=False),
                                g.apply(variables, x, train=False))


def test_resnet_generator_has_instance_norm_and_keeps_the_size():
  g = nets.ResNetGenerator(out_shape=(28, 28, 1), ngf=4, num_blocks=2)
  x = jax.random.normal(jax.random.key(0), (2, 28, 28, 1))
  variables = g.init(jax.random.key(1), x, train=False)
  assert "batch_stats" not in variables
  assert g.apply(variables, x, train=False).shape == (2, 28, 28, 1)
  # Instance norm: an example's output does not depend on its batch-mates.
  np.testing.assert_allclose(g.apply(variables, x, train=True)[:1],
                             g.apply(variables, x[:1], train=True), rtol=1e-4, atol=1e-5)


def test_affine_warp_is_torchs_grid_sample_and_reads_the_background_outside():
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 1))
  identity = jnp.broadcast_to(jnp.eye(2, 3), (2, 2, 3))
  np.testing.assert_allclose(nets.affine_warp(x, identity), x, atol=1e-5)
  # A shift by one pixel (2/6 in [-1, 1] units): column j reads column j + 1; the last reads fill.
  shift = identity.at[:, 0, 2].set(2 / 6)
  out = np.asarray(nets.affine_warp(x, shift, fill=-1.0))
  np.testing.assert_allclose(out[:, :, :-1], x[:, :, 1:], atol=1e-5)
  np.testing.assert_allclose(out[:, :, -1], -1.0, atol=1e-5)
  # A zoom out by 2: the centre pixel pair's mean lands on the centre, the border is background.
  zoom = identity * 2.0
  out = np.asarray(nets.affine_warp(x, zoom.at[:, :, 2].set(0.0), fill=-1.0))
  np.testing.assert_allclose(out[:, 0, :], -1.0, atol=1e-5)
  np.testing.assert_allclose(out[:, 2, 2], x[:, 1:3, 1:3].mean((1, 2)), atol=1e-5)
  grad = jax.grad(lambda t: nets.affine_warp(x, t).sum())(zoom)
  assert np.all(np.abs(np.asarray(grad)) > 0)  # the map is learnt through its sample points


def test_spatial_transformer_starts_as_the_identity_warp():
  x = jax.random.normal(jax.random.key(0), (2, 28, 28, 1))
  for kind in (nets.ResNetGenerator(out_shape=(28, 28, 1), ngf=4, num_blocks=1),
               nets.UNetGenerator(out_shape=(28, 28, 1), channels=(4, 8, 8, 8))):
    plain = kind.init(jax.random.key(1), x, train=False)
    warped = kind.clone(spatial_transformer=True).init(jax.random.key(1), x, train=False)
    assert set(warped["params"]) - set(plain["params"]) == {"localiser"}
    theta = nets.AffineLocaliser().apply({"params": warped["params"]["localiser"]}, x)
    np.testing.assert_array_equal(theta, jnp.broadcast_to(jnp.eye(2, 3), (2, 2, 3)))
    np.testing.assert_allclose(
        kind.apply(plain, x, train=False),
        kind.clone(spatial_transformer=True).apply(warped, x, train=False), atol=1e-4)


def test_reframe_moves_the_ink_to_the_target_frame():
  """``reframe_theta`` scales each image's ink so that its long side is the target's and moves
  its centre of mass onto the target's (fails if the scale or the shift is inverted); an image
  without ink is left as it is; the image, not θ, carries the gradient."""
  x = -np.ones((3, 28, 28, 1), np.float32)
  x[0, 3:27, 2:12] = 1.0  # 24 high, 10 wide, centre (14.5, 6.5): scikit-learn's tall framing
  x[1, 10:20, 15:19] = 0.5  # 10 high: a small digit off the centre
  target = jnp.asarray([20.0, 13.5, 14.0])
  out = nets.affine_warp(jnp.asarray(x), nets.reframe_theta(jnp.asarray(x), target))
  frame = np.asarray(nets.ink_frame(out))
  np.testing.assert_allclose(frame[:2, 0], 20.0, atol=1.0)
  np.testing.assert_allclose(frame[:2, 1:], [[13.5, 14.0]] * 2, atol=0.5)
  np.testing.assert_array_equal(np.asarray(out[2]), x[2])
  np.testing.assert_allclose(nets.ink_frame(jnp.asarray(x))[0], [24.0, 14.5, 6.5], atol=1e-5)
  grad = jax.grad(lambda v: nets.affine_warp(v, nets.reframe_theta(v, target)).sum())(
      jnp.asarray(x))
  assert np.abs(np.asarray(grad)).max() > 0


def test_cyclegan_reframes_each_input_to_its_target_domains_frame():
  """``translation.reframe=True``: G_ab reframes to domain b's mean frame and G_ba to a's, with
  no parameters of its own; Pix2Pix refuses the option."""
  from gan_jax.games import cyclegan

  data = unpaired_data()
  plain = experiment.build(tiny_config("cyclegan"), num_devices=1, dataset=data)
  exp = experiment.build(tiny_config("cyclegan", reframe=True), num_devices=1, dataset=data)
  assert exp.game.generators["a2b"].reframe_to == cyclegan.domain_frame(data.train_b)
  assert exp.game.generators["b2a"].reframe_to == cyclegan.domain_frame(data.train_a)
  assert plain.game.generators["a2b"].reframe_to is None
  state, plain_state = exp.init_state(), plain.init_state()
  jax.tree.map(np.testing.assert_array_equal, state.g_params, plain_state.g_params)
  a = data.test_a[:4]
  assert np.abs(exp.game.translate(state, a) - plain.game.translate(plain_state, a)).max() > 1e-3
  with pytest.raises(ConfigError, match="reframe=True"):
    experiment.build(tiny_config("pix2pix", reframe=True), num_devices=1, dataset=paired_data())


# ---- games -------------------------------------------------------------------------------------


def test_pix2pix_learns_an_input_dependent_map_with_l1():
  """After 60 steps the translations of held-out inputs are far closer to their targets than
  the best constant output is (fails if G ignores its input: 0.64 against 0.32), and the loss G
  is differentiated through (``g_loss``, the value of that function) is the cGAN term + 100·L1
  (fails if the L1 term is dropped; on this easy task the conditional D alone also teaches
  G the map, so the distance check does not catch that)."""
  data = paired_data()
  c = tiny_config("pix2pix")
  exp, state, metrics = train(c, data, 60)
  out = exp.game.translate(state, data.test_a)
  l1 = np.mean(np.abs(out - data.test_b))
  constant = np.mean(np.abs(data.test_b - np.median(data.train_b, axis=0)))
  assert l1 < 0.5 * constant, (l1, constant)  # measured: 0.06 against 0.32
  assert out.std(axis=0).mean() > 0.2  # the outputs differ from input to input
  np.testing.assert_allclose(metrics["g_loss"], metrics["g_gan"] + 100.0 * metrics["l1"],
                             rtol=1e-5)


@pytest.mark.slow
def test_cyclegan_cycle_term_makes_the_round_trip_reconstruct():
  """λ_cycle = 10 (no identity term): after 120 steps a -> b -> a reconstructs held-out inputs
  better than the best constant does (measured: 0.19 against 0.33); with the cycle term
  dropped the round trip is worse than the constant (0.44)."""
  data = unpaired_data()
  c = tiny_config("cyclegan", lambda_identity=0.0)
  exp, state, metrics = train(c, data, 120)
  assert float(metrics["identity"]) == 0.0
  rec = exp.game.translate(state, exp.game.translate(state, data.test_a, "a2b"), "b2a")
  error = np.mean(np.abs(rec - data.test_a))
  constant = np.mean(np.abs(data.test_a - np.median(data.train_a, axis=0)))
  assert error < 0.8 * constant, (error, constant)
  assert int(state.pool_a.count) == int(state.pool_b.count) == 4


def test_cyclegan_learns_its_spatial_transformers_warps():
  """With ``spatial_transformer=True`` both generators' warps leave the identity in training:
  the GAN, cycle and identity terms reach θ through the resampling."""
  data = unpaired_data()
  exp, state, _ = train(tiny_config("cyclegan", spatial_transformer=True), data, 3)
  for direction in ("a2b", "b2a"):
    _, variables_of = exp.game.generator_for(direction)
    kernel = np.asarray(variables_of(state)["params"]["localiser"]["theta"]["kernel"])
    assert np.abs(kernel).max() > 0, direction
  assert exp.game.translate(state, data.test_a, "a2b").shape == data.test_b.shape


ADAM_STEP = tiny_config("cyclegan").optim.g_lr


def test_identity_term_skips_the_warp_on_request():
  """``warp=False`` is the generator without its warp; ``identity_skips_warp=True`` takes the
  identity term's gradient off θ alone. At initialisation θ = I, so one step from the same state
  moves every weight but the localiser's as without the option (fails if the option does not
  reach the identity term, or skips the warp of the GAN or cycle terms too)."""
  x = jax.random.normal(jax.random.key(0), (2, SIZE, SIZE, 1))
  g = nets.ResNetGenerator(out_shape=(SIZE, SIZE, 1), ngf=4, num_blocks=1)
  params = g.clone(spatial_transformer=True).init(jax.random.key(1), x, train=False)["params"]
  params["localiser"]["theta"]["bias"] = jnp.asarray([0.05, 0, 0, 0, 0.05, 0]) / 10
  plain = {k: v for k, v in params.items() if k != "localiser"}
  warped = g.clone(spatial_transformer=True)
  np.testing.assert_array_equal(warped.apply({"params": params}, x, warp=False),
                                g.apply({"params": plain}, x))
  assert np.abs(warped.apply({"params": params}, x) - g.apply({"params": plain}, x)).max() > 0.01

  data = unpaired_data()
  for steps in (1, 2):
    runs = {skip: train(tiny_config("cyclegan", spatial_transformer=True,
                                    identity_skips_warp=skip), data, steps)[1]
            for skip in (False, True)}
    for direction in ("a2b", "b2a"):
      kept, skipped = runs[False].g_params[direction], runs[True].g_params[direction]
      if steps == 1:  # Adam's first step is lr·sign(g): the localiser's may agree by chance
        # To 1 % of that step: where |g| is near Adam's eps, g/(|g| + eps) carries the resampling's
        # rounding (θ = I is not bit-exact), up to 5.5e-4 of a step on an AVX-512 CPU.
        jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=0.01 * ADAM_STEP),
                     {k: v for k, v in kept.items() if k != "localiser"},
                     {k: v for k, v in skipped.items() if k != "localiser"})
      else:
        assert np.abs(np.asarray(kept["localiser"]["theta"]["kernel"])
                      - np.asarray(skipped["localiser"]["theta"]["kernel"])).max() > 1e-6


def test_picture_is_input_output_target_and_samples_translate(tmp_path):
  data = paired_data()
  exp = experiment.build(tiny_config("pix2pix"), num_devices=1, dataset=data)
  state = exp.init_state()
  picture, _ = exp.game.picture(state, 0)
  assert picture.shape == (8 * SIZE, 6 * SIZE, 1) and picture.dtype == np.uint8
  # Column 0 is the input, column 2 the target (the first test example's).
  np.testing.assert_array_equal(picture[:SIZE, :SIZE, 0],
                                np.round((data.test_a[0, ..., 0] + 1) * 127.5).astype(np.uint8))
  out = exp.game.samples(state, num=5, seed=0)
  assert out["images"].shape == (5, SIZE, SIZE, 1)
  given = exp.game.samples(state, num=0, seed=0, input=data.test_a[:3])["images"]
  np.testing.assert_allclose(given, out["images"][:3], rtol=1e-5, atol=1e-6)
  with pytest.raises(ConfigError, match="direction='b2a'"):
    exp.game.samples(state, num=0, seed=0, input=data.test_b[:3], direction="b2a")
  with pytest.raises(ConfigError, match="images must be float"):
    exp.game.samples(state, num=0, seed=0, input=np.zeros((2, 5, 5, 1), np.float32))
  with pytest.raises(ConfigError, match=r"\[-1, 1\]"):
    exp.game.samples(state, num=0, seed=0, input=2 * np.ones((2, SIZE, SIZE, 1), np.float32))


def test_pix2pix_refuses_unpaired_data():
  with pytest.raises(ConfigError, match="needs paired data"):
    experiment.build(tiny_config("pix2pix"), num_devices=1, dataset=unpaired_data())


def test_cyclegan_refuses_to_skip_a_warp_it_does_not_have():
  with pytest.raises(ConfigError, match="identity_skips_warp=True needs"):
    experiment.build(tiny_config("cyclegan", identity_skips_warp=True), num_devices=1,
                     dataset=unpaired_data())


@pytest.mark.slow
def test_cyclegan_resume_is_bitwise(tmp_path, monkeypatch):
  """2 steps, stop, resume to 4 == 4 steps: every leaf of the state bitwise, the history
  buffers (filled at step 1, swapping after) included."""
  from gan_jax.games import translation
  from gan_jax.training import loop

  data = unpaired_data()
  monkeypatch.setattr(translation.TranslationGame, "load_dataset",
                      classmethod(lambda cls, data_config: data))

  def config(num_steps):
    c = tiny_config("cyclegan")
    c.train.num_steps = num_steps
    return c

  full = loop.train_and_evaluate(config(4), str(tmp_path / "full"))["state"]
  loop.train_and_evaluate(config(2), str(tmp_path / "part"))
  resumed = loop.train_and_evaluate(config(4), str(tmp_path / "part"))["state"]
  assert int(full.step) == int(resumed.step) == 4 and int(full.pool_a.count) == 4
  paths = jax.tree_util.tree_leaves_with_path(full)
  for (path, a), b in zip(paths, jax.tree.leaves(resumed), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=str(path))


PARALLEL_SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    from gan_jax.training import experiment, parallel
    from tests.games import test_translation_games as t
    assert jax.device_count() == 2

    # CycleGAN without instance norm: IN is per example (nothing crosses devices), and at the
    # 3x3 bottleneck of these 12x12 images its division by a tiny variance amplifies the
    # summation-order differences of the device mean past any useful tolerance.
    for game, data, norm in (("pix2pix", t.paired_data(), ""),
                             ("cyclegan", t.unpaired_data(), "none")):
      c = t.tiny_config(game, norm=norm)
      batch = t.batches(data, c.train.batch_size)

      def run(mode, devices):
        par = parallel.DataParallel(mode, devices)
        exp = experiment.build(c, num_devices=par.num_devices, dataset=data)
        step = par.map_step(exp.game.train_step)
        state = par.put_state(exp.init_state())
        for s in range(3):
          state, metrics = step(state, par.put_batch(batch(s)), jax.random.key(0))
        return jax.device_get(par.get_state(state)), par.fetch(metrics)

      one, m1 = run("shard_map", jax.devices()[:1])
      for mode in ("pmap", "shard_map"):
        st, m = run(mode, None)
        paths = jax.tree_util.tree_leaves_with_path(one)
        for (path, a), b in zip(paths, jax.tree.leaves(st), strict=True):
          np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=f"{game} {mode} {path}")
        for k in m1:
          np.testing.assert_allclose(m1[k], m[k], rtol=2e-4, atol=2e-5, err_msg=game + mode + k)
      if game == "pix2pix":  # BatchNorm statistics averaged over the devices moved
        assert not np.allclose(jax.tree.leaves(one.g_batch_stats)[0], 0.0)
      else:  # the history buffers filled (step 0) and then swapped images
        assert int(one.pool_a.count) == 4
      print("OK", game, float(m1["d_loss"]))
""")


@pytest.mark.slow
def test_two_devices_match_one_device():
  """pmap and shard_map over 2 devices == 1 device for both games: dropout masks drawn per
  global example, BatchNorm statistics over the device axis, the replicated history buffers
  updated from the gathered global batch."""
  proc = run_script(PARALLEL_SCRIPT, num_devices=2, timeout=900)
  assert "OK pix2pix" in proc.stdout and "OK cyclegan" in proc.stdout


@pytest.mark.slow
def test_sample_cli_translates_an_npz_and_refuses_bad_input(tmp_path):
  """A 2-step mnist_sr run with tiny networks; ``gan_jax.sample --input`` translates 7x7 inputs
  to 28x28 and refuses, in one line with exit 2, a wrong shape, a missing key and b2a."""
  from tests.helpers import run_module

  workdir = str(tmp_path / "run")
  run_module("gan_jax.main", "--config=experiments/pix2pix_mnist_sr.py", f"--workdir={workdir}",
             "--config.train.num_steps=2", "--config.train.batch_size=8",
             "--config.train.eval_at_end=False", "--config.translation.ngf=4",
             "--config.translation.ndf=4", timeout=600)
  good, bad = tmp_path / "a.npz", tmp_path / "bad.npz"
  np.savez(good, images=np.zeros((3, 7, 7, 1), np.float32))
  np.savez(bad, images=np.zeros((3, 28, 28, 1), np.float32))
  out = tmp_path / "b.npz"
  run_module("gan_jax.sample", f"--workdir={workdir}", f"--input={good}", f"--out={out}")
  with np.load(out) as f:
    assert f["images"].shape == (3, 28, 28, 1) and np.abs(f["images"]).max() <= 1.0
  np.savez(tmp_path / "nokey.npz", x=np.zeros((3, 7, 7, 1), np.float32))
  for args, message in [((f"--input={bad}",), "images must be float (N, 7, 7, 1)"),
                        ((f"--input={tmp_path / 'nokey.npz'}",), "has no `images` array"),
                        ((f"--input={good}", "--direction=b2a"), "direction='b2a'")]:
    proc = run_module("gan_jax.sample", f"--workdir={workdir}", *args,
                      f"--out={tmp_path / 'x.npz'}", check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: ") and message in last, proc.stderr


@pytest.mark.parametrize("arg, field, values", [
    (None, "lambda_l1", [0.0, 10.0, 100.0]), ("cyclegan", "lambda_cycle", [0.0, 1.0, 10.0])])
def test_lambda_ablation_expands_to_one_run_per_lambda_and_seed(arg, field, values):
  from gan_jax.sweeps import spec
  from tests.helpers import load_config

  runs = spec.expand_sweep(load_config("experiments/ablation_translation.py", arg))
  assert len(runs) == 2 * len(values)
  assert sorted({r.config.translation[field] for r in runs}) == values
  assert {r.config.game for r in runs} == {"pix2pix" if arg is None else "cyclegan"}
