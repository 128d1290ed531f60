"""Times the compiled train step on a fixed real batch and prints one JSON object.

  python -m gan_jax.bench --config=experiments/nonsaturating.py [--steps=50] [--repeats=5] \
      [--config.train.batch_size=64]

One step is the game's ``train_step``; for ``game='gan'``, n_critic D updates then one G update,
what the PyTorch reference ``../shared/reference/torch_dcgan_bench.py`` (beside the repository;
``benchmarks/vs_torch.sh``) times (with the configs' defaults, dcgan28 and Adam(2e-4, β=(0.5,
0.999)) for non_saturating). Every timed repeat ends with ``block_until_ready`` on the state.
``compile_s`` is the step's trace, lowering and XLA compile (ahead of time), ``first_step_s`` its
first run. ``g_params`` and ``d_params`` count the trainable parameters (BatchNorm statistics and
spectral-norm vectors are state, not parameters).

``--seeds=K`` (K > 1) also times K seeds trained together: ``jax.vmap`` of the per-device step
over K seed-stacked states inside one jit, alternating repeats with the one-seed step. The output
then holds ``vmap_seed_steps_per_s`` (K × the vmapped step rate) and ``vmap_speedup`` (that over
the one-seed rate): above 1 vectorised seeds pay on this device, below 1 separate runs are faster.
"""

from __future__ import annotations

import json
import math
import statistics
import time

from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax import cli
from gan_jax.errors import ConfigError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "An experiments/*.py config file.",
                                lock_config=True)
flags.DEFINE_integer("steps", 50, "Steps per timed repeat.")
flags.DEFINE_integer("repeats", 5, "Timed repeats; steps_per_s is their median.")
flags.DEFINE_integer("warmup", 5, "Untimed steps after the first (compiling) call.")
flags.DEFINE_string("json", None, "Also write the result to this file.")
flags.DEFINE_integer("seeds", 1, "Also time this many seeds vmapped in one step (if > 1).")


def _time(step_fn, state, batch, key, *, steps: int) -> tuple[float, object]:
  """Steps per second of ``steps`` calls, ready at the end; returns the rate and the state."""
  import jax

  t0 = time.perf_counter()
  for _ in range(steps):
    state, metrics = step_fn(state, batch, key)
  jax.block_until_ready(state)
  return steps / (time.perf_counter() - t0), state


def _compile_and_warm(par, step_fn, state, batch, key, warmup: int):
  """Compiles the step ahead of time and runs it 1 + ``warmup`` times.

  The compiled step keeps ``par``'s limit on steps in flight (``DataParallel.map_step``).

  Returns (compiled step, compile_s: trace + lower + XLA compile, first_step_s: the first run,
  state, metrics).
  """
  import jax

  t0 = time.perf_counter()
  compiled = par.limit_in_flight(step_fn.lower(state, batch, key).compile())
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  state, metrics = compiled(state, batch, key)
  jax.block_until_ready((state, metrics))
  first_step_s = time.perf_counter() - t0
  for _ in range(warmup):
    state, metrics = compiled(state, batch, key)
  jax.block_until_ready(state)
  return compiled, compile_s, first_step_s, state, metrics


def setup(config):
  """(DataParallel, Experiment, mapped train step, state, one fixed real batch, key)."""
  import jax

  from gan_jax.training import experiment, parallel

  par = parallel.DataParallel(config.parallel)
  exp = experiment.build(config, num_devices=par.num_devices)
  batch = par.put_batch(exp.game.batch_fn()(0))  # one fixed real batch, as in the reference
  return (par, exp, par.map_step(exp.game.train_step), par.put_state(exp.init_state()), batch,
          jax.random.key(config.seed))


def benchmark(config, *, steps: int, repeats: int, warmup: int, seeds: int = 1) -> dict:
  """Compile time and steps/s of ``train_step`` for ``config`` on all local devices."""
  import jax
  import numpy as np


  par, exp, step_fn, state, batch, key = setup(config)
  step_fn, compile_s, first_step_s, state, metrics = _compile_and_warm(
      par, step_fn, state, batch, key, warmup)

  vmapped = None
  if seeds > 1:  # K independent states (seed, seed+1, ...) in one vmapped step.
    v_step = par.map_step(jax.vmap(exp.game.train_step, in_axes=(0, None, 0)))
    states = [exp.game.init_state(jax.random.key(config.seed + i)) for i in range(seeds)]
    v_state = par.put_state(jax.tree.map(lambda *xs: np.stack(xs), *jax.device_get(states)))
    v_keys = jax.random.split(key, seeds)
    v_step, v_compile_s, _, v_state, _ = _compile_and_warm(
        par, v_step, v_state, batch, v_keys, warmup)
    vmapped = {"compile_s": v_compile_s, "rates": []}

  rates = []
  for _ in range(repeats):  # alternating, so machine noise hits both alike
    rate, state = _time(step_fn, state, batch, key, steps=steps)
    rates.append(rate)
    if vmapped is not None:
      rate, v_state = _time(v_step, v_state, batch, v_keys, steps=steps)
      vmapped["rates"].append(rate * seeds)
  _, metrics = step_fn(state, batch, key)
  last = par.fetch(metrics)
  device = jax.local_devices()[0]
  stats = device.memory_stats() or {}
  median = statistics.median(rates)
  result = {
      "framework": "jax", "jax": jax.__version__, "device_kind": device.device_kind,
      "platform": device.platform, "device_count": par.num_devices,
      "parallel": config.parallel, "model": config.model.name, "objective": config.objective,
      "conv_impl": config.model.get("conv_impl", "fast"),
      "n_critic": config.train.n_critic, "batch": config.train.batch_size,
      **exp.game.count_params(),
      "compile_s": round(compile_s, 3), "first_step_s": round(first_step_s, 3),
      "steps_per_s_median": round(median, 3),
      "steps_per_s_min": round(min(rates), 3), "steps_per_s_max": round(max(rates), 3),
      "steps_per_s_all": [round(r, 3) for r in rates],
      "images_per_s": round(median * config.train.batch_size * config.train.n_critic, 1),
      "peak_bytes_in_use": stats.get("peak_bytes_in_use"),
      "finite": all(math.isfinite(float(last[k])) for k in ("d_loss", "g_loss")),
      "last_d_loss": float(last["d_loss"]), "last_g_loss": float(last["g_loss"]),
  }
  if vmapped is not None:
    v_median = statistics.median(vmapped["rates"])
    result.update(
        seeds=seeds, vmap_compile_s=round(vmapped["compile_s"], 3),
        vmap_seed_steps_per_s=round(v_median, 3),
        vmap_seed_steps_per_s_all=[round(r, 3) for r in vmapped["rates"]],
        vmap_speedup=round(v_median / median, 3))
  return result


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  if FLAGS.config is None:
    cli.fail("--config is required, e.g. --config=experiments/nonsaturating.py")
  if FLAGS.steps <= 0 or FLAGS.repeats <= 0 or FLAGS.warmup < 0 or FLAGS.seeds <= 0:
    cli.fail("--steps, --repeats and --seeds must be positive and --warmup non-negative")
  try:
    result = benchmark(FLAGS.config, steps=FLAGS.steps, repeats=FLAGS.repeats,
                       warmup=FLAGS.warmup, seeds=FLAGS.seeds)
  except ConfigError as e:
    cli.fail(str(e))
  print(json.dumps(result), flush=True)
  if FLAGS.json:
    with open(FLAGS.json, "w") as f:
      json.dump(result, f, indent=1)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
