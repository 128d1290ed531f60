"""The VAE games through the trainer: a VAE-GAN run resumed from its checkpoint ends bitwise equal
to an uninterrupted one; ``gan_jax.sample --reconstruct`` writes reconstructions of a VAE run and
refuses a GAN run in one line; a VAE's evaluation reports the GAN's image metrics and the test
reconstruction error."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from gan_jax.training import experiment, loop, writers
from tests.helpers import load_config, run_module

TIMING = ("steps_per_s",)


def _tiny(game: str, **train_fields):
  """The MNIST config of ``game`` on scikit-learn's digits (28x28), small and short."""
  c = load_config(f"experiments/{game}_mnist.py")
  c.data.name = "digits"
  c.model.z_dim = 8
  c.train.update(batch_size=16, num_steps=4, log_every=1, sample_every=100, checkpoint_every=2,
                 eval_at_end=False)
  c.train.update(**train_fields)
  return c


def _records(workdir):
  with open(os.path.join(workdir, writers.METRICS_FILE)) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


@pytest.mark.slow
def test_a_resumed_vaegan_run_is_bitwise_equal_to_an_uninterrupted_one(tmp_path):
  full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
  loop.train_and_evaluate(_tiny("vaegan"), full)
  loop.train_and_evaluate(_tiny("vaegan", num_steps=2), resumed)
  loop.train_and_evaluate(_tiny("vaegan"), resumed)
  _, a, step_a = experiment.load_run(full)
  _, b, step_b = experiment.load_run(resumed)
  assert step_a == step_b == 4
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for u, v in zip(leaves_a, leaves_b, strict=True):
    np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
  assert _records(full) == _records(resumed)
  # The run learned something: all three players moved, and no update was skipped.
  first = experiment.build(_tiny("vaegan"), num_devices=1).init_state()
  for field in ("e_params", "g_params", "d_params"):
    assert not all(np.array_equal(u, v) for u, v in zip(
        jax.tree.leaves(getattr(first, field)), jax.tree.leaves(getattr(a, field)), strict=True))
  assert int(a.skipped_updates) == 0


@pytest.mark.slow
def test_sample_reconstructs_for_a_vae_and_refuses_a_gan(tmp_path):
  vae_dir, gan_dir = str(tmp_path / "vae"), str(tmp_path / "gan")
  summary = loop.train_and_evaluate(_tiny("vae", eval_at_end=True, eval_num=64), vae_dir)
  ev = summary["eval"] if "eval" in summary else summary
  exp, state, _ = experiment.load_run(vae_dir)
  images = exp.dataset.test_x[:5]
  np.savez(tmp_path / "in.npz", images=images)
  out = str(tmp_path / "recon.npz")
  run_module("gan_jax.sample", f"--workdir={vae_dir}", f"--reconstruct={tmp_path / 'in.npz'}",
             f"--out={out}")
  with np.load(out) as f:
    np.testing.assert_array_equal(f["inputs"], images)
    assert f["images"].shape == images.shape
    np.testing.assert_allclose(f["images"], exp.game.reconstruct(state, images), atol=1e-5)
  scores = exp.game.evaluate(state, num=64)
  for key in ("fcd", "precision", "recall", "coverage", "class_kl_from_uniform", "recon_mse"):
    assert np.isfinite(scores[key]), key
  assert 0 < scores["recon_mse"] < 4
  del ev
  loop.train_and_evaluate(load_config("experiments/tiny.py"), gan_dir)
  proc = run_module("gan_jax.sample", f"--workdir={gan_dir}",
                    f"--reconstruct={tmp_path / 'in.npz'}", check=False)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert lines[-1].startswith("error: --reconstruct needs a run with an encoder"), proc.stderr
