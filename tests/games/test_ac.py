"""AC-GAN (model.conditioning='ac'): D's class head and the class terms of both players' losses.

D's loss gains w·(CE(class logits of x_real, c_real) + CE(class logits of G(z, c), c)) and G's
w·CE(class logits of G(z, c), c). With SGD at learning rate 1 an update moves the params by
-∇, so the updates here are the gradients of those losses, computed by hand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.games import gan_state, gan_steps
from gan_jax.models import mlp
from gan_jax.training import loop, parallel
from tests.helpers import load_config

PAR = parallel.DataParallel("pmap", devices=jax.devices()[:1])
K, N = 3, 12


def _ce(class_logits, labels):
  return jnp.mean(-jax.nn.log_softmax(class_logits)[jnp.arange(len(labels)), labels])


def _players(ac_weight):
  generator = mlp.MLPGenerator(out_shape=(2,), width=16, depth=1, num_classes=K, embed_dim=4)
  discriminator = mlp.MLPDiscriminator(width=16, depth=2, num_classes=K, conditioning="ac")
  optimizers = gan_state.Optimizers(g=optax.sgd(1.0), d=optax.sgd(1.0))
  cfg = gan_steps.StepConfig(objective="non_saturating", num_devices=1, z_dim=2, num_classes=K,
                             ac_weight=ac_weight)
  gan = gan_steps.bind(generator=generator, discriminator=discriminator, optimizers=optimizers,
                       cfg=cfg)
  s = gan_state.create_state(jax.random.key(0), generator=generator, discriminator=discriminator,
                             optimizers=optimizers, z_dim=2, example_shape=(2,), num_classes=K)
  return gan, s


def _tree_close(a, b):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-5, atol=2e-6), a, b)


@pytest.mark.parametrize("w", [0.0, 0.7])
def test_ac_terms_of_d_and_g_losses_and_their_gradients(w):
  gan, s = _players(w)
  rng = np.random.default_rng(1)
  batch = {"x": rng.normal(size=(N, 2)).astype(np.float32), "y": rng.integers(0, K, N),
           "fake": rng.normal(size=(N, 2)).astype(np.float32),
           "y_fake": rng.integers(0, K, N)}
  d_step = PAR.map_step(lambda st, b, k: gan.d_update(
      st, b, k, generated=gan_steps.SharedForward(b["fake"], b["y_fake"])), donate_state=False)
  new, metrics = d_step(PAR.put_state(s), PAR.put_batch(batch), jax.random.key(2))
  new, metrics = PAR.get_state(new), PAR.fetch(metrics)

  def d_loss(d_params):
    apply = lambda x: gan.discriminator.apply({"params": d_params}, x, train=False)  # noqa: E731
    (real, real_cls), (fake, fake_cls) = apply(batch["x"]), apply(batch["fake"])
    adv = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    return adv + w * (_ce(real_cls, batch["y"]) + _ce(fake_cls, batch["y_fake"]))

  loss, grads = jax.value_and_grad(d_loss)(s.d_params)
  assert float(metrics["d_loss"]) == pytest.approx(float(loss), rel=1e-5)
  _tree_close(new.d_params, jax.tree.map(lambda p, g: p - g, s.d_params, grads))

  key = jax.random.key(3)
  g_step = PAR.map_step(lambda st, _, k: gan.g_update(st, N, k), donate_state=False)
  new_g, g_metrics = g_step(PAR.put_state(s), PAR.put_batch({"x": batch["x"]}), key)
  new_g, g_metrics = PAR.get_state(new_g), PAR.fetch(g_metrics)
  z, labels = gan_steps.sample_latents(jax.random.split(key)[0], N, gan.cfg)

  def g_loss(g_params):
    fake = gan.generator.apply({"params": g_params}, z, labels, train=True)
    logit, cls = gan.discriminator.apply({"params": s.d_params}, fake, train=False)
    return jnp.mean(jax.nn.softplus(-logit)) + w * _ce(cls, labels)

  loss, grads = jax.value_and_grad(g_loss)(s.g_params)
  assert float(g_metrics["g_loss"]) == pytest.approx(float(loss), rel=1e-5)
  _tree_close(new_g.g_params, jax.tree.map(lambda p, g: p - g, s.g_params, grads))
  if w:
    assert float(metrics["d_ac_loss"]) > 0.5 and float(g_metrics["g_ac_loss"]) > 0.5


def test_a_short_ac_gan_run_trains(tmp_path):
  """AC-GAN on the 8x8 digits with the MLP: finite losses, and D learns to classify."""
  c = load_config("experiments/tiny.py")
  c.data.name, c.conditional, c.model.conditioning = "digits", True, "ac"
  c.model.z_dim, c.train.batch_size = 16, 64
  c.train.num_steps, c.train.log_every = 60, 10
  c.train.sample_every = c.train.checkpoint_every = 60
  c.train.eval_at_end = False
  c.optim.d_lr = c.optim.g_lr = 1e-3
  out = loop.train_and_evaluate(c, str(tmp_path / "run"))
  history = out["history"]
  assert all(np.isfinite(r[k]) for r in history for k in ("d_loss", "g_loss", "d_ac_loss"))
  assert history[-1]["d_ac_loss"] < 0.7 * history[0]["d_ac_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "resnet32"])
def test_the_ac_head_is_bias_free_with_orthogonal_init_as_studiogans(model):
  """StudioGAN's AC head (linear2: bias=False, 'ortho' init): W has orthonormal columns."""
  import ml_collections

  from gan_jax import models

  cfg = ml_collections.ConfigDict(dict(
      name=model, width=16 if model == "mlp" else 32, depth=2, z_dim=8, spectral_norm=False,
      g_spectral_norm=False, d_norm="none" if model != "mlp" else "auto", conditioning="ac",
      embed_dim=8, conv_impl="stock"))
  shape = (2,) if model == "mlp" else (32, 32, 3)
  _, d = models.get(cfg, example_shape=shape, num_classes=K)
  x = jnp.zeros((2, *shape))
  params = d.init(jax.random.key(0), x, jnp.zeros(2, jnp.int32), train=False)["params"]
  head = params["class_head"]
  assert set(head) == {"kernel"}
  w = np.asarray(head["kernel"])
  np.testing.assert_allclose(w.T @ w, np.eye(K), atol=1e-5)
