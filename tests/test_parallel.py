"""Data parallelism on 4 fake CPU devices: pmap == shard_map == one device, same global batch."""

from __future__ import annotations

import textwrap

from tests.helpers import run_script

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    from gan_jax import configs, data, experiment, parallel
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
    ds = data.load_dataset(c.data)
    ds = data.Dataset("mnist", ds.train_x[:256], ds.train_y[:256], ds.test_x[:8],
                      ds.test_y[:8], 10)
    batch_fn = data.make_batch_fn(ds, batch_size=8, n_critic=2, seed=0, with_labels=True)

    def run(mode, devices):
      par = parallel.DataParallel(mode, devices)
      exp = experiment.build(c, num_devices=par.num_devices, dataset=ds)
      step = par.map_step(exp.steps.train_step)
      state = par.put_state(exp.init_state())
      for s in range(2):
        state, metrics = step(state, par.put_batch(batch_fn(s)), jax.random.key(0))
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
