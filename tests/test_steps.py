"""The G update's gradient, and the shared G forward pass of train.g_reuses_d_latents."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import experiment, parallel, state, steps
from gan_jax.models import dcgan, mlp
from tests.helpers import load_config

PAR = parallel.DataParallel("pmap", devices=jax.devices()[:1])


def _experiment(**train):
  config = load_config("experiments/tiny.py")
  config.model.width = 16  # keep the compile small
  for field, value in train.items():
    config.train[field] = value
  return experiment.build(config, num_devices=1)


def _conditional_bn_players(objective="non_saturating"):
  """(GANSteps with SGD(lr=1) for both players, initial state, G without the device axis) for a
  small conditional DCGAN G (BatchNorm, label embedding) and projection MLP D, 8x8x1 images."""
  generator = dcgan.DCGAN28Generator(out_shape=(8, 8, 1), base_size=2, channels=(8, 4),
                                     num_classes=3, embed_dim=4, axis_name=steps.AXIS,
                                     conv_impl="stock")
  discriminator = mlp.MLPDiscriminator(width=16, depth=1, num_classes=3)
  sgd = state.Optimizers(g=optax.sgd(1.0), d=optax.sgd(1.0))
  cfg = steps.StepConfig(objective=objective, num_devices=1, z_dim=4, num_classes=3)
  gan = steps.GANSteps(generator=generator, discriminator=discriminator, optimizers=sgd, cfg=cfg)
  init = state.create_state(jax.random.key(1), generator=generator, discriminator=discriminator,
                            optimizers=sgd, z_dim=4, example_shape=(8, 8, 1), num_classes=3)
  return gan, init, generator.clone(axis_name=None)


def test_g_step_gradient_is_the_gradient_of_the_composition():
  """With SGD(lr=1), θ - θ' is the whole gradient tree: the pullback of ∇ₓ g_loss(D(x, c))
  through a G with BatchNorm and labels equals jax.grad of g_loss(D(G_θ(z, c), c)), leaf by
  leaf; G's BatchNorm statistics are those of that forward pass."""
  gan, s, g_local = _conditional_bn_players()
  assert s.g_batch_stats and "label_embed" in s.g_params
  key = jax.random.key(5)
  new, metrics = PAR.map_step(lambda st, _, k: gan.g_step(st, 16, k), donate_state=False)(
      PAR.put_state(s), PAR.put_batch({"x": np.zeros((16, 8, 8, 1), np.float32)}), key)
  new = PAR.get_state(new)
  z, labels = gan._sample_latents(jax.random.split(key)[0], 16)
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
    d_step, g_step = exp.steps.d_step, exp.steps.g_step

    def d_spy(state, batch, key, generated=None, d_step=d_step, seen=seen):
      if generated is not None:
        jax.debug.callback(lambda x: seen.append(("d", np.asarray(x))), generated[0])
      return d_step(state, batch, key, generated)

    def g_spy(state, local_batch, key, generated=None, g_step=g_step, seen=seen):
      if generated is not None:
        jax.debug.callback(lambda x: seen.append(("g", np.asarray(x))), generated[0])
      return g_step(state, local_batch, key, generated)

    exp.steps.d_step, exp.steps.g_step = d_spy, g_spy
    batch = {"x": np.random.default_rng(0).normal(size=(16, 1, 2)).astype(np.float32)}
    state, metrics = PAR.map_step(exp.steps.train_step)(
        PAR.put_state(exp.init_state()), PAR.put_batch(batch), jax.random.key(0))
    jax.block_until_ready(state)
    assert np.isfinite(PAR.fetch(metrics)["g_loss"])
    outcomes[reuse] = seen
  assert outcomes[False] == []
  (who_d, fakes_d), (who_g, fakes_g) = outcomes[True]
  assert (who_d, who_g) == ("d", "g") and fakes_d.shape == (16, 2)
  np.testing.assert_array_equal(fakes_d, fakes_g)
