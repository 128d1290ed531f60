"""Two processes (one CPU device each, gloo collectives) train one run as one process would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from tests.helpers import REPO, cpu_env

pytestmark = pytest.mark.slow  # every test here runs multi-process training

# Each process parses the flags gan_jax.main parses (coordinator, process id, config) and joins
# the run. It trains 3 steps with pmap, then resumes the same workdir to step 6 with shard_map,
# and saves its final state after each.
DRIVER = textwrap.dedent("""
    import os, sys
    import jax, numpy as np
    from absl import flags
    from gan_jax import cli, main
    from gan_jax.training import distributed
    out = sys.argv[1]
    cli.parse_flags([sys.argv[0], *sys.argv[2:]])
    assert distributed.maybe_initialize()
    from gan_jax.training import loop
    config = flags.FLAGS.config
    assert jax.process_count() == 2 and jax.local_device_count() == 1
    for mode, num_steps in (("pmap", 3), ("shard_map", 6)):
      config.unlock()
      config.parallel, config.train.num_steps = mode, num_steps
      config.train.allow_config_change = True
      summary = loop.train_and_evaluate(config, flags.FLAGS.workdir)
      leaves = jax.tree.leaves(jax.device_get(summary["state"]))
      np.savez(os.path.join(out, f"{mode}_{jax.process_index()}.npz"), *leaves)
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _leaves(tree) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def _load(path: str) -> list[np.ndarray]:
  with np.load(path) as f:
    return [f[f"arr_{i}"] for i in range(len(f.files))]


def _tiny_config():
  import importlib.util

  spec = importlib.util.spec_from_file_location("tiny", os.path.join(REPO, "experiments/tiny.py"))
  tiny = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(tiny)
  return tiny.get_config()


def _one_process_states(workdir: str) -> dict:
  """The 6 tiny steps in this single-device process: the states at steps 3 and 6."""
  from gan_jax.training import checkpointing, loop

  assert jax.device_count() == 1
  summary = loop.train_and_evaluate(_tiny_config(), workdir)
  ckpt = checkpointing.Checkpointer(workdir)
  at_3 = ckpt.restore(3, summary["state"])
  ckpt.close()
  return {"pmap": _leaves(at_3), "shard_map": _leaves(summary["state"])}


def _two_processes(driver: str, out: str, workdir: str, *flags: str, while_running=None):
  """Runs ``driver`` as processes 0 and 1 of one run on ``workdir`` (logs in ``out``), calling
  ``while_running()`` meanwhile; asserts both exit 0 and returns (its result, the two logs)."""
  port = _free_port()
  log_paths = [os.path.join(out, f"log_{i}.txt") for i in range(2)]
  procs = []
  for i, log_path in enumerate(log_paths):
    with open(log_path, "w") as log:
      procs.append(subprocess.Popen(
          [sys.executable, "-c", driver, out, *flags, f"--workdir={workdir}",
           f"--coordinator_address=localhost:{port}", "--num_processes=2", f"--process_id={i}"],
          cwd=REPO, env=cpu_env(1), stdout=log, stderr=subprocess.STDOUT))
  try:
    result = while_running() if while_running else None
    for p in procs:
      p.wait(timeout=300)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  logs = [open(path).read() for path in log_paths]
  for p, log in zip(procs, logs, strict=True):
    assert p.returncode == 0, log
  return result, logs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """The 2-process run (workdir, saved states, logs) and the same steps in this process."""
  workdir = str(tmp_path_factory.mktemp("multihost"))
  out = str(tmp_path_factory.mktemp("multihost_states"))
  reference, logs = _two_processes(  # the reference trains here while the two processes run
      DRIVER, out, workdir, "--config=experiments/tiny.py",
      while_running=lambda: _one_process_states(str(tmp_path_factory.mktemp("one_process"))))
  return workdir, out, logs, reference


@pytest.mark.parametrize("mode", ["pmap", "shard_map"])
def test_processes_agree_with_one_process(runs, mode):
  _, out, _, reference = runs
  first, second = (_load(os.path.join(out, f"{mode}_{pid}.npz")) for pid in range(2))
  for a, b, ref in zip(first, second, reference[mode], strict=True):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, ref, rtol=1e-4, atol=1e-5)


def test_process_zero_writes_logs_and_the_checkpoint_restores(runs):
  from gan_jax.training import experiment

  workdir, out, logs, _ = runs
  assert all("resuming from step 3" in log for log in logs)
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  steps = [r["step"] for r in records if not r.get("eval")]
  assert steps == [2, 3, 4, 6]  # one line per logged step, not one per process
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
      "step_0000003.png", "step_0000006.png"]
  config = experiment.load_workdir_config(workdir)
  assert config.parallel == "shard_map"
  _, state, step = experiment.load_run(workdir)
  assert step == 6
  for a, b in zip(_leaves(state), _load(os.path.join(out, "shard_map_0.npz")), strict=True):
    np.testing.assert_array_equal(a, b)


# ---- grain: each process streams its own shard, and a resume continues it ---------------------

# Each process trains 3 steps of the tiny run on an array_record file through grain, then resumes
# the workdir to step 6, and writes the sha1 of every example its loader handed the trainer.
GRAIN_DRIVER = textwrap.dedent("""
    import hashlib, json, os, sys
    import jax, numpy as np
    from absl import flags
    from gan_jax import cli, main
    from gan_jax.data import grain_loader
    from gan_jax.training import distributed
    out = sys.argv[1]
    cli.parse_flags([sys.argv[0], *sys.argv[2:]])
    assert distributed.maybe_initialize()
    from gan_jax.training import loop
    seen, batches_with_state = [], grain_loader.batches_with_state

    def recording(iterator, num_batches):
      for batch, state in batches_with_state(iterator, num_batches):
        x = batch["x"].reshape((-1,) + batch["x"].shape[2:])
        seen.extend(hashlib.sha1(np.ascontiguousarray(e).tobytes()).hexdigest() for e in x)
        yield batch, state

    grain_loader.batches_with_state = recording
    config = flags.FLAGS.config
    for num_steps in (3, 6):
      config.unlock()
      config.train.num_steps = num_steps
      summary = loop.train_and_evaluate(config, flags.FLAGS.workdir)
    leaves = jax.tree.leaves(jax.device_get(summary["state"]))
    np.savez(os.path.join(out, f"grain_{jax.process_index()}.npz"), *leaves)
    with open(os.path.join(out, f"seen_{jax.process_index()}.json"), "w") as f:
      json.dump(seen, f)
""")

GRAIN_RECORDS = 192  # 96 a process; 6 steps x 8 local examples read half of each shard


def test_two_grain_processes_read_disjoint_shards_and_resume_where_they_stopped(tmp_path):
  import hashlib

  from gan_jax.data import grain_loader, sources

  with np.load(sources.embedded_mnist_path()) as f:
    images, labels = f["x_train"][:GRAIN_RECORDS], f["y_train"][:GRAIN_RECORDS]
  records = str(tmp_path / "mnist.array_record")
  grain_loader.write_array_record(records, images, labels)
  workdir, out = tmp_path / "run", tmp_path / "out"
  out.mkdir()
  _, logs = _two_processes(
      GRAIN_DRIVER, str(out), str(workdir), "--config=experiments/tiny.py",
      "--config.data.name=mnist_records", f"--config.data.path={records}",
      "--config.data.loader=grain", "--config.data.grain_workers=0",
      "--config.conditional=True", "--config.train.eval_at_end=False")
  assert all("resuming from step 3" in log for log in logs)
  # The same replicated state on both processes.
  for a, b in zip(*(_load(str(out / f"grain_{i}.npz")) for i in range(2)), strict=True):
    np.testing.assert_array_equal(a, b)
  # Each process's loader state is in the checkpoints.
  step_dir = os.path.join(workdir, "checkpoints", "6", grain_loader.DATA_ITEM)
  assert {"process_0-of-2.json", "process_1-of-2.json"} <= set(os.listdir(step_dir))
  # Each process read 48 examples (6 steps x 8) of its own shard, none twice: the resumed run
  # went on through the shard rather than starting it again, and the shards are disjoint.
  scaled = images.astype(np.float32)[..., None] / 127.5 - 1.0
  digests = {hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest() for x in scaled}
  seen = [json.load(open(out / f"seen_{i}.json")) for i in range(2)]
  for s in seen:
    assert len(s) == len(set(s)) == 6 * 8
    assert set(s) <= digests
  assert not set(seen[0]) & set(seen[1])
