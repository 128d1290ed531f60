"""Data parallelism on 4 fake CPU devices: pmap == shard_map == one device, same global batch."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.helpers import run_module, run_script

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    from gan_jax import configs
    from gan_jax.data import sources
    from gan_jax.data import sampler
    from gan_jax.training import experiment
    from gan_jax.training import parallel
    assert jax.device_count() == 4

    c = configs.base_config()
    c.conditional = True
    c.objective = "wgan_gp"          # exercises the globally drawn GP interpolation weights
    c.model.name = "dcgan28"         # exercises BatchNorm statistics averaged over devices
    c.model.spectral_norm = True
    c.reg.instance_noise_std = 0.1   # exercises globally drawn instance noise
    c.reg.instance_noise_anneal_steps = 10
    c.train.batch_size = 8
    c.train.n_critic = 2
    c.ema_decay = 0.5
    ds = sources.load_dataset(c.data)
    ds = sources.Dataset("mnist", ds.train_x[:256], ds.train_y[:256], ds.test_x[:8],
                      ds.test_y[:8], 10)
    batch_fn = sampler.make_batch_fn(ds, batch_size=8, n_critic=2, seed=0, with_labels=True)

    def run(mode, devices):
      par = parallel.DataParallel(mode, devices)
      exp = experiment.build(c, num_devices=par.num_devices, dataset=ds)
      step = par.map_step(exp.steps.train_step)
      state = par.put_state(exp.init_state())
      for s in range(2):
        state, metrics = step(state, par.put_batch(batch_fn(s)), jax.random.key(0))
        # One step in flight: several CPU devices can deadlock in their collectives otherwise
        # (docs/design.md, "Steps in flight on multi-device CPU").
        jax.block_until_ready((state, metrics))
      state = jax.device_get(par.get_state(state))
      return state, par.fetch(metrics)

    one, m1 = run("shard_map", jax.devices()[:1])
    results = {"pmap": run("pmap", None), "shard_map": run("shard_map", None)}
    ref = jax.tree.leaves(one)
    for name, (st, m) in results.items():
      for a, b in zip(ref, jax.tree.leaves(st), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=name)
      for k in m1:
        np.testing.assert_allclose(m1[k], m[k], rtol=2e-4, atol=2e-5, err_msg=name + k)
    assert float(m1["gp"]) > 0 and int(one.step) == 2
    # The G BatchNorm statistics moved, so the pmean of batch statistics was exercised.
    assert not np.allclose(jax.tree.leaves(one.g_batch_stats)[0], 0.0)
    print("OK", float(m1["d_loss"]))
""")


@pytest.mark.slow
def test_four_devices_match_one_device():
  proc = run_script(SCRIPT, num_devices=4, timeout=600)
  assert "OK" in proc.stdout


def test_batch_not_divisible_by_devices_is_a_config_error():
  code = textwrap.dedent("""
      from gan_jax import configs
      from gan_jax.errors import ConfigError
      c = configs.base_config(); c.train.batch_size = 6
      try:
        configs.validate(c, num_devices=4)
      except ConfigError as e:
        print("ERR", e)
  """)
  proc = run_script(code, num_devices=4)
  assert "ERR train.batch_size=6 is not divisible by the 4 devices" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["pmap", "shard_map"])
def test_multi_device_soak_runs_to_the_end(tmp_path, mode):
  """1000 ring steps on 2 CPU devices, the host up to 500 steps ahead (log_every). Without the
  limit on steps in flight (parallel.CPU_MAX_STEPS_IN_FLIGHT) XLA:CPU deadlocked in a collective
  and aborted such runs: 16 of 16 of them (docs/results.md, "Multi-device soak")."""
  proc = run_module(
      "gan_jax.main", "--config=experiments/mog.py", f"--workdir={tmp_path / 'run'}",
      f"--config.parallel={mode}", "--config.train.num_steps=1000",
      "--config.train.eval_at_end=False", "--config.train.log_every=500",
      num_devices=2, timeout=900, optimized=True)
  assert "step 1000/1000" in proc.stdout
  with open(tmp_path / "run" / "summary.json") as f:
    assert json.load(f)["final_step"] == 1000


def test_steps_in_flight_are_limited_on_multi_device_cpu():
  code = textwrap.dedent("""
      import jax, numpy as np
      from gan_jax.training import parallel
      par = parallel.DataParallel("pmap")
      assert par.max_steps_in_flight == parallel.CPU_MAX_STEPS_IN_FLIGHT
      assert parallel.DataParallel("pmap", jax.devices()[:1]).max_steps_in_flight is None
      step = par.map_step(lambda s, b, k: (s + jax.lax.pmean(b.sum(), "batch"), {"m": s}))
      state = par.put_state(np.float32(0))
      for _ in range(10):
        state, metrics = step(state, par.put_batch(np.ones((4, 2), np.float32)), 0)
      assert len(step._running) == parallel.CPU_MAX_STEPS_IN_FLIGHT
      print("OK", float(par.fetch(metrics)["m"]))
  """)
  assert "OK 36.0" in run_script(code, num_devices=2).stdout
