"""The G update's gradient, and the shared G forward pass of train.g_reuses_d_latents."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import experiment, parallel
from tests.helpers import load_config

PAR = parallel.DataParallel("pmap", devices=jax.devices()[:1])


def _experiment(**train):
  config = load_config("experiments/tiny.py")
  config.model.width = 16  # keep the compile small
  for field, value in train.items():
    config.train[field] = value
  return experiment.build(config, num_devices=1)


def test_g_step_gradient_is_the_gradient_of_the_composition():
  """The pullback of ∇ₓ g_loss(D(x)) through G equals jax.grad of g_loss(D(G_θ(z)))."""
  exp = _experiment()
  s, g = exp.init_state(), exp.steps
  key = jax.random.key(5)
  new, metrics = PAR.map_step(lambda st, _, k: g.g_step(st, 16, k), donate_state=False)(
      PAR.put_state(s), PAR.put_batch({"x": np.zeros((16, 2), np.float32)}), key)
  z, _ = g._sample_latents(jax.random.split(key)[0], 16)

  def composed(g_params):
    fake = exp.generator.apply({"params": g_params}, z, train=True)
    return g.objective.g_loss(exp.discriminator.apply({"params": s.d_params}, fake))

  direct = jax.grad(composed)(s.g_params)
  np.testing.assert_allclose(float(PAR.fetch(metrics)["g_grad_norm"]),
                             float(optax.tree.norm(direct)), rtol=1e-5)
  assert not jax.tree.all(jax.tree.map(
      lambda a, b: jnp.array_equal(a, b), PAR.get_state(new).g_params, s.g_params))


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
