"""A game the trainer has never seen trains, checkpoints and resumes through it unchanged.

``ShiftGame`` is a GAN game in a few lines: G(z) = z + μ against a logistic D(x) = w·x + b on
the 2-D ring. Registered under a new name, it runs through ``training.loop`` (the same loop the
GAN, Pix2Pix and CycleGAN games use) without the loop knowing anything about it.
"""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import configs, games, losses
from gan_jax.data import sampler
from gan_jax.games import updates
from gan_jax.games.base import Game
from gan_jax.training import experiment, loop


@flax.struct.dataclass
class ShiftState:
  step: jax.Array
  mu: jax.Array
  d: dict
  g_opt_state: object
  d_opt_state: object
  skipped_updates: jax.Array


class ShiftGame(Game):
  name = "shift"
  checked_metrics = ("d_loss", "g_loss")
  nonfinite_metrics = ("d_nonfinite", "g_nonfinite")
  progress_metrics = (("d_loss", "d_loss", ".4f"), ("g_loss", "g_loss", ".4f"))

  def __init__(self, config, dataset, *, num_devices):
    super().__init__(config, dataset, num_devices=num_devices)
    self.opt = updates.adam(1e-2, 0.5, 0.999)

  def init_state(self, key):
    mu = jax.random.normal(key, (2,))
    d = {"w": jnp.zeros((2,)), "b": jnp.zeros(())}
    return ShiftState(jnp.zeros((), jnp.int32), mu, d, self.opt.init(mu), self.opt.init(d),
                      jnp.zeros((), jnp.int32))

  def train_step(self, state, batch, train_key):
    key = jax.random.fold_in(train_key, state.step)
    x = batch["x"][:, 0]
    z = updates.local_slice(jax.random.normal(key, (x.shape[0] * self.num_devices, 2)),
                            self.num_devices)
    obj = losses.get("non_saturating")
    critic = lambda d, v: v @ d["w"] + d["b"]  # noqa: E731
    d_loss, d_grads = jax.value_and_grad(
        lambda d: obj.d_loss(critic(d, x), critic(d, z + state.mu)))(state.d)
    d, d_opt, d_grads = updates.apply_gradients(state.d, state.d_opt_state, d_grads, self.opt)
    new = state.replace(d=d, d_opt_state=d_opt)
    new, metrics = updates.guard(state, new, updates.finite(d_loss, d_grads["b"]), {}, "d",
                                 False)
    g_loss, g_grads = jax.value_and_grad(lambda mu: obj.g_loss(critic(new.d, z + mu)))(new.mu)
    mu, g_opt, _ = updates.apply_gradients(new.mu, new.g_opt_state, g_grads, self.opt)
    final, metrics = updates.guard(new, new.replace(mu=mu, g_opt_state=g_opt),
                                   updates.finite(g_loss, g_grads[0]), metrics, "g", False)
    metrics.update(jax.lax.pmean(dict(d_loss=d_loss, g_loss=g_loss), updates.AXIS))
    return final.replace(step=state.step + 1), metrics

  def batch_fn(self, *, process_index=0, process_count=1):
    return sampler.make_batch_fn(self.dataset, batch_size=self.config.train.batch_size,
                                 n_critic=1, seed=self.config.seed,
                                 process_index=process_index, process_count=process_count)

  def picture(self, state, seed):
    return np.zeros((4, 4, 3), np.uint8), {"mu_norm": float(jnp.linalg.norm(state.mu))}

  def evaluate(self, state, *, num, seed=0, **kwargs):
    return {"num": float(num), "mu_norm": float(jnp.linalg.norm(state.mu))}


@pytest.fixture
def shift_game(monkeypatch):
  registry = games._registry()
  monkeypatch.setattr(games, "NAMES", games.NAMES + ("shift",))
  monkeypatch.setattr(games, "_registry", lambda: {**registry, "shift": ShiftGame})


def _config(num_steps: int):
  c = configs.use_ring(configs.base_config())
  c.game = "shift"
  c.train.update(batch_size=32, num_steps=num_steps, log_every=2, sample_every=4,
                 checkpoint_every=4, eval_num=10)
  return c


def test_a_new_game_trains_and_resumes_bitwise_through_the_unchanged_trainer(shift_game,
                                                                            tmp_path):
  straight = loop.train_and_evaluate(_config(8), str(tmp_path / "straight"))
  loop.train_and_evaluate(_config(4), str(tmp_path / "resumed"))
  resumed = loop.train_and_evaluate(_config(8), str(tmp_path / "resumed"))
  assert straight["final_step"] == resumed["final_step"] == 8
  for a, b in zip(jax.tree.leaves(straight["state"]), jax.tree.leaves(resumed["state"]),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert straight["eval"]["num"] == 10.0
  # The game's picture scalars and window metrics reach the logged history.
  logged = straight["history"]
  assert [r["step"] for r in logged] == [2, 4, 6, 8]
  assert "mu_norm" in logged[1] and "d_loss" in logged[0]
  # G learnt: μ moved towards the ring's mean (0, 0) from its random start.
  start = experiment.build(_config(8), num_devices=1).init_state().mu
  assert float(jnp.linalg.norm(straight["state"].mu)) < float(jnp.linalg.norm(start))


def test_an_unknown_game_is_refused_naming_the_choices():
  c = configs.base_config()
  c.game = "nope"
  with pytest.raises(Exception, match=r"game='nope' is unknown; valid: gan"):
    configs.validate(c, num_devices=1)
