"""Test helpers: running the command-line tools in subprocesses with a CPU-only environment."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Reference files the tests compare against (each names the script that wrote it).
FIXTURES = os.path.join(REPO, "tests", "fixtures")

# The tests compile with LLVM at -O0 and XLA:CPU's older elemental emitters in place of its
# fusion emitters: most tests are compile-bound (tiny models, a few steps, and an eager
# init_state that compiles every parameter's initialiser on its own). -O0 cut their compile
# time by about a third on this CPU, and the emitter flag a further ~20-40 % (docs/results.md,
# "Test suite time"). The numbers differ from an optimised build's in the last bits, so every
# bitwise check compares two runs of the tests' own build. Runs long enough for the step's speed to
# matter pass ``optimized=True`` (the multi-device soaks); users' runs never see these flags.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"


def cpu_env(num_devices: int = 1, *, optimized: bool = False, **extra) -> dict:
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  env["XLA_FLAGS"] = " ".join([f"--xla_force_host_platform_device_count={num_devices}",
                               *([] if optimized else [TEST_XLA_FLAGS])])
  env["PYTHONUNBUFFERED"] = "1"
  env.update({k: str(v) for k, v in extra.items()})
  return env


def compile_cache_env(directory) -> dict:
  """Env for subprocess runs that share a persistent compilation cache in ``directory`` (runs of
  one test module compile the same step, so later ones load it)."""
  return {"JAX_COMPILATION_CACHE_DIR": str(directory),
          "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
          "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def run_module(module: str, *args, num_devices: int = 1, timeout: int = 300, check=True,
               optimized: bool = False, **env_extra) -> subprocess.CompletedProcess:
  """``python -m module args`` from the repo root; returns the completed process."""
  proc = subprocess.run(
      [sys.executable, "-m", module, *args], cwd=REPO,
      env=cpu_env(num_devices, optimized=optimized, **env_extra),
      capture_output=True, text=True, timeout=timeout)
  if check and proc.returncode != 0:
    raise AssertionError(
        f"{module} {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
  return proc


def run_script(code: str, *, num_devices: int = 1, timeout: int = 300, optimized: bool = False
               ) -> subprocess.CompletedProcess:
  proc = subprocess.run(
      [sys.executable, "-c", code], cwd=REPO, env=cpu_env(num_devices, optimized=optimized),
      capture_output=True, text=True, timeout=timeout)
  if proc.returncode != 0:
    raise AssertionError(f"script exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
  return proc


def cached_classifier(dataset, cache_dir: str, train_steps: int):
  """``classifier.get_classifier(dataset, cache_dir, train_steps=...)``, with the training done
  in an ``optimized`` subprocess that loads the built-in dataset of the same name and fills
  ``cache_dir``; here the classifier is only loaded from that cache. Training is step-bound,
  and the conv steps of TEST_XLA_FLAGS' build run about half as fast (docs/results.md, "Test
  suite time")."""
  from gan_jax.evaluation import classifier

  run_script(textwrap.dedent(f"""
      import ml_collections
      from gan_jax.data import sources
      from gan_jax.evaluation import classifier
      config = ml_collections.ConfigDict({{"name": {dataset.name!r}, "path": ""}})
      classifier.get_classifier(sources.load_dataset(config), {cache_dir!r},
                                train_steps={train_steps}, log=print)
  """), optimized=True)
  logs = []
  clf = classifier.get_classifier(dataset, cache_dir, train_steps=train_steps, log=logs.append)
  assert logs and logs[0].startswith("loaded"), logs  # the same data: nothing trained here
  return clf


def load_config(path: str, arg: str | None = None):
  """``get_config(arg)`` of an experiments/*.py file, as config_flags would load it."""
  import importlib.util

  spec = importlib.util.spec_from_file_location("experiment_config", os.path.join(REPO, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg is not None else module.get_config()


def train_in_process(workdir: str, config_path: str = "experiments/tiny.py", **train_fields):
  """Trains ``config_path`` (with ``train.<field>`` overrides) into ``workdir`` in this process,
  as ``gan_jax.main`` would (Flax examples' train_test.py style); returns the summary. For tests
  whose subject is what a finished run leaves, not the command line that made it."""
  from gan_jax.training import loop

  config = load_config(config_path)
  for field, value in train_fields.items():
    config.train[field] = value
  return loop.train_and_evaluate(config, workdir)


# ---- In-process GAN steps on small players ---------------------------------------------------


def gan_players(discriminator, *, generator=None, objective: str = "non_saturating",
                lr: float = 1e-3, z_dim: int = 2, example_shape=(2,), num_classes: int = 0,
                optimizers=None, seed: int = 0, **step_config):
  """(gan_steps.Steps, initial GANState) for ``discriminator`` and a small G (by default an MLP on
  2-D points), with Adam(lr, β=(0.5, 0.9)) for both players unless ``optimizers`` is given."""
  import jax
  import ml_collections

  from gan_jax.games import gan_state, gan_steps
  from gan_jax.models import mlp

  generator = generator or mlp.MLPGenerator(
      out_shape=tuple(example_shape), width=16, depth=1, num_classes=num_classes)
  optimizers = optimizers or gan_state.make_optimizers(
      ml_collections.ConfigDict(dict(g_lr=lr, d_lr=lr, b1=0.5, b2=0.9)))
  cfg = gan_steps.StepConfig(objective=objective, num_devices=1, z_dim=z_dim,
                             num_classes=num_classes, **step_config)
  gan = gan_steps.bind(generator=generator, discriminator=discriminator,
                       optimizers=optimizers, cfg=cfg)
  init = gan_state.create_state(
      jax.random.key(seed), generator=generator, discriminator=discriminator,
      optimizers=optimizers, z_dim=z_dim, example_shape=tuple(example_shape),
      num_classes=num_classes)
  return gan, init


def _one_device():
  import jax

  from gan_jax.training import parallel

  return parallel.DataParallel("pmap", devices=jax.devices()[:1])


def mapped_d_step(gan, st, batch: dict, key: int = 1, generated=None):
  """One D update mapped as the trainer maps it (pmap, 1 device): (new state, host metrics).

  ``generated``: (fakes, their labels) for D to see instead of G(z) of fresh latents.
  """
  import jax

  par = _one_device()
  from gan_jax.games import gan_steps

  shared = None if generated is None else gan_steps.SharedForward(*generated)
  step = par.map_step(lambda s, b, k: gan.d_update(s, b, k, generated=shared),
                      donate_state=False)
  new, metrics = step(par.put_state(st), par.put_batch(batch), jax.random.key(key))
  return par.get_state(new), par.fetch(metrics)


def mapped_g_step(gan, st, local_batch: int, key: int = 1, latents=None):
  """One G update mapped like ``mapped_d_step``; ``latents``: (z, labels) for G, else fresh."""
  import jax
  import numpy as np

  from gan_jax.games import gan_steps

  def g_update(s, _, k):
    generated = None
    if latents is not None:
      generated = gan_steps.shared_forward(s, *latents, generator=gan.generator)
    return gan.g_update(s, local_batch, k, generated=generated)

  par = _one_device()
  step = par.map_step(g_update, donate_state=False)
  new, metrics = step(par.put_state(st), par.put_batch({"x": np.zeros((local_batch, 1))}),
                      jax.random.key(key))
  return par.get_state(new), par.fetch(metrics)
