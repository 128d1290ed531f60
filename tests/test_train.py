"""End to end: gan_jax.main trains a few steps, writes its outputs, resumes exactly, samples."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

from tests.helpers import load_config, run_module, train_in_process

TINY = "--config=experiments/tiny.py"


def _params(workdir):
  """The latest checkpoint's G and D parameters as flat numpy arrays."""
  import jax

  from gan_jax.training import experiment

  _, state, step = experiment.load_run(workdir)
  leaves = jax.tree.leaves((state.g_params, state.d_params, state.ema_g_params))
  return step, [np.asarray(x) for x in leaves]


def test_the_restore_target_is_init_states_tree_of_host_zeros():
  """``Experiment.state_template()``, the target every restore reads a checkpoint into:
  ``init_state()``'s tree, shapes and dtypes as numpy zeros, made without initialising."""
  import jax

  from gan_jax.training import experiment

  exp = experiment.build(load_config("experiments/tiny.py"), num_devices=1)
  template, init = exp.state_template(), exp.init_state()
  assert jax.tree.structure(template) == jax.tree.structure(init)
  for t, x in zip(jax.tree.leaves(template), jax.tree.leaves(init), strict=True):
    assert isinstance(t, np.ndarray) and (t.shape, t.dtype) == (x.shape, x.dtype)
    assert not t.any()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("tiny"))
  proc = run_module("gan_jax.main", TINY, f"--workdir={workdir}")
  return workdir, proc


def test_main_writes_run_outputs(tiny_run):
  workdir, proc = tiny_run
  assert "step 6/6" in proc.stdout
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["objective"] == "non_saturating"
  records = [json.loads(x) for x in open(os.path.join(workdir, "metrics.jsonl"))]
  lines = [r for r in records if not r.get("eval")]
  assert [r["step"] for r in lines] == [2, 3, 4, 6]  # log_every=2, plus sample/ckpt at 3
  assert [r["step"] for r in records if r.get("eval")] == [6]  # train.eval_at_end
  assert [r["step"] for r in lines if "diversity_ratio" in r] == [3, 6]  # sample_every=3
  for key in ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "d_grad_norm",
              "g_param_norm", "d_param_norm", "steps_per_s", "g_logit_grad"):
    assert np.isfinite(lines[-1][key]), key
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
      "step_0000003.png", "step_0000006.png"]
  assert glob.glob(os.path.join(workdir, "tb", "events.out.tfevents.*"))
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6"]


@pytest.mark.slow
def test_resume_equals_uninterrupted(tiny_run, tmp_path):
  """3 steps, stop, rerun to 6 steps == the 6-step run, bitwise, on CPU."""
  full_dir, _ = tiny_run
  part = str(tmp_path / "part")
  train_in_process(part, num_steps=3)
  proc = run_module("gan_jax.main", TINY, f"--workdir={part}")
  assert "resuming from step 3" in proc.stdout
  step_a, full = _params(full_dir)
  step_b, resumed = _params(part)
  assert step_a == step_b == 6
  for a, b in zip(full, resumed, strict=True):
    np.testing.assert_array_equal(a, b)


def test_rerun_of_finished_run_trains_nothing(tiny_run):
  workdir, _ = tiny_run
  proc = run_module("gan_jax.main", TINY, f"--workdir={workdir}")
  assert "resuming from step 6" in proc.stdout
  assert "step 6/6" not in proc.stdout


def test_sample_cli(tiny_run, tmp_path):
  """The file holds G_ema (the run keeps an EMA) at the documented latents of --seed, in order."""
  import jax

  from gan_jax.evaluation import sampling
  from gan_jax.training import experiment

  workdir, _ = tiny_run
  out = str(tmp_path / "s.npz")
  run_module("gan_jax.sample", f"--workdir={workdir}", "--num=50", f"--out={out}", "--seed=4")
  with np.load(out) as f:
    samples = f["samples"]
    assert sorted(f.files) == ["samples"]  # unconditional: no labels
  assert samples.shape == (50, 2) and samples.dtype == np.float32
  exp, state, step = experiment.load_run(workdir)
  assert step == 6 and exp.config.ema_decay > 0
  z, _ = sampling.fixed_latents(4, 50, exp.config.model.z_dim, 0)
  ema, raw = (np.asarray(exp.generator.apply({"params": p}, z, train=False))
              for p in (state.ema_g_params, state.g_params))
  np.testing.assert_allclose(samples, ema, rtol=1e-6, atol=1e-6)
  assert not np.allclose(samples, raw, atol=1e-4)
  other_seed = sampling.fixed_latents(5, 50, exp.config.model.z_dim, 0)[0]
  assert not np.allclose(np.asarray(jax.device_get(z)), np.asarray(other_seed))


@pytest.mark.slow
def test_sample_cli_step_samples_that_checkpoint(tiny_run, tmp_path):
  """--step=3 samples G_ema of checkpoint 3 (not the latest, 6); a step not saved is one line,
  exit 2, naming the saved steps."""
  from gan_jax.evaluation import sampling
  from gan_jax.training import experiment

  workdir, _ = tiny_run
  out = str(tmp_path / "s3.npz")
  proc = run_module("gan_jax.sample", f"--workdir={workdir}", "--num=50", f"--out={out}",
                    "--step=3")
  assert "of step 3" in proc.stdout
  with np.load(out) as f:
    samples = f["samples"]
  for step in (3, 6):
    exp, state, loaded = experiment.load_run(workdir, step=step)
    assert loaded == step
    z, _ = sampling.fixed_latents(0, 50, exp.config.model.z_dim, 0)
    ema = np.asarray(exp.generator.apply({"params": state.ema_g_params}, z, train=False))
    if step == 3:
      np.testing.assert_allclose(samples, ema, rtol=1e-6, atol=1e-6)
    else:
      assert not np.allclose(samples, ema, atol=1e-4)
  proc = run_module("gan_jax.sample", f"--workdir={workdir}", f"--out={out}", "--step=4",
                    check=False)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith("error: --step=4")
  assert "saved: 3, 6" in proc.stderr
  # A GAN run has no translation directions: --direction is refused, nothing written.
  refused = str(tmp_path / "refused.npz")
  proc = run_module("gan_jax.sample", f"--workdir={workdir}", f"--out={refused}",
                    "--direction=b2a", check=False)
  assert proc.returncode == 2 and not os.path.exists(refused)
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: --input and --direction apply to translation runs (game pix2pix or cyclegan), "
      "not game='gan'")


@pytest.mark.slow
def test_resume_with_batchnorm_and_spectral_norm_state_is_bitwise(tmp_path):
  """A conditional DCGAN-28 (BatchNorm in G, spectral norm in D and on its projection
  embedding): 2 steps, stop, resume to 4 == 4 steps, every leaf of the state bitwise."""
  import jax

  from gan_jax import configs
  from gan_jax.training import loop

  def config(num_steps):
    c = configs.base_config()
    c.data.name, c.conditional, c.model.spectral_norm = "digits", True, True
    c.model.z_dim, c.model.embed_dim = 8, 4
    c.train.batch_size, c.train.num_steps = 8, num_steps
    c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 2
    c.train.eval_at_end = False
    return c

  full = loop.train_and_evaluate(config(4), str(tmp_path / "full"))["state"]
  loop.train_and_evaluate(config(2), str(tmp_path / "part"))
  resumed = loop.train_and_evaluate(config(4), str(tmp_path / "part"))["state"]
  assert full.g_batch_stats and any("proj_embed" in k for g in full.d_batch_stats.values()
                                    for k in g)
  assert int(full.step) == int(resumed.step) == 4
  paths = jax.tree_util.tree_leaves_with_path(full)
  for (path, a), b in zip(paths, jax.tree.leaves(resumed), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=str(path))


def test_train_steps_make_no_implicit_host_device_transfers(tmp_path, monkeypatch):
  """Between logging steps the loop only dispatches: a transfer inside would raise here."""
  import jax

  from gan_jax.training import loop
  from tests.helpers import load_config

  config = load_config(TINY.split("=", 1)[1])
  config.train.num_steps, config.train.log_every = 8, 4
  config.train.sample_every = config.train.checkpoint_every = 8
  config.train.eval_at_end = False
  monkeypatch.setattr(loop, "STEP_TRANSFER_GUARD", "disallow")
  assert loop.train_and_evaluate(config, str(tmp_path))["final_step"] == 8
  # The guard does bite: an implicit transfer of a host value into a jitted step raises.
  with jax.transfer_guard("disallow"):
    try:
      jax.jit(lambda x: x + 1)(np.ones(3))
    except Exception as e:  # noqa: BLE001 - JAX raises a runtime error subclass
      assert "Disallowed" in str(e)
    else:
      raise AssertionError("transfer_guard('disallow') let a host array through")
