"""Surviving the host: SIGTERM stops at a checkpoint, one writer per workdir, failed writes.

Every run is a subprocess on CPU with experiments/tiny.py (a ring MLP), except the prefetch-thread
and write-helper tests, which run in this process.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import jax
import numpy as np
import pytest

from gan_jax import files
from gan_jax.data import prefetch
from gan_jax.errors import ConfigError
from gan_jax.training import workdir
from tests.helpers import REPO, compile_cache_env, cpu_env, run_module

TINY = "--config=experiments/tiny.py"
NO_EVAL = "--config.train.eval_at_end=False"
LONG = [TINY, NO_EVAL, "--config.train.checkpoint_every=100", "--config.train.log_every=100",
        "--config.train.sample_every=100000"]


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict:
  return compile_cache_env(tmp_path_factory.getbasetemp() / "jax_compilation_cache_preemption")


def _start(module_args, cache_env, **popen):
  return subprocess.Popen([sys.executable, "-m", *module_args], cwd=REPO,
                          env=cpu_env(1, **cache_env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **popen)


def _wait_for(path: str, proc, timeout: float = 240) -> None:
  deadline = time.monotonic() + timeout
  while not os.path.exists(path):
    assert proc.poll() is None, proc.communicate()
    assert time.monotonic() < deadline, f"no {path} after {timeout} s"
    time.sleep(0.01)


def _steps(run_dir: str) -> list[int]:
  return sorted(int(n) for n in os.listdir(os.path.join(run_dir, "checkpoints")) if n.isdigit())


def _params(run_dir: str):
  """(step, G/D/EMA parameter arrays) of a workdir's latest checkpoint."""
  from gan_jax.training import experiment

  _, state, step = experiment.load_run(run_dir)
  return step, [np.asarray(x) for x in jax.tree.leaves(
      (state.g_params, state.d_params, state.ema_g_params))]


def _assert_same_final_state(a: str, b: str, step: int) -> None:
  (step_a, params_a), (step_b, params_b) = _params(a), _params(b)
  assert step_a == step_b == step
  for x, y in zip(params_a, params_b, strict=True):
    np.testing.assert_array_equal(x, y)


def _one_line(stderr: str) -> str:
  lines = [line for line in stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and "Traceback" not in stderr, stderr
  return lines[0]


# ---- Preemption -------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_checkpoints_the_step_reached_and_the_rerun_is_exact(tmp_path, cache_env):
  """SIGTERM after the first checkpoint: exit 0 at once with a checkpoint at the step reached;
  meanwhile a second run on the held workdir is refused; the rerun ends bitwise equal to an
  uninterrupted run."""
  args = [*LONG, "--config.train.num_steps=2000"]
  stopped, full = str(tmp_path / "stopped"), str(tmp_path / "full")
  reference = _start(["gan_jax.main", *args, f"--workdir={full}"], cache_env)
  victim = _start(["gan_jax.main", *args, f"--workdir={stopped}"], cache_env)
  try:
    _wait_for(os.path.join(stopped, "checkpoints", "100"), victim)
    # Frozen while the second run starts and is refused, so that a slow start on a loaded machine
    # cannot let the victim reach step 2000 first; SIGTERM waits for SIGCONT.
    victim.send_signal(signal.SIGSTOP)
    second = run_module("gan_jax.main", *args, f"--workdir={stopped}", check=False, **cache_env)
    assert victim.poll() is None, "the run finished before the second one was refused"
    victim.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    victim.send_signal(signal.SIGCONT)
    out, err = victim.communicate(timeout=60)
    stop_s = time.monotonic() - t0
  finally:
    victim.kill()
  assert second.returncode == 2, second.stderr
  refused = _one_line(second.stderr)
  assert refused.startswith(f"error: --workdir={stopped!r} is in use by a live run (host "
                            f"{socket.gethostname()}, pid {victim.pid}, started "), refused
  assert "step " not in second.stdout
  # "At once": the step in flight, the checkpoint and the process's exit. 10.9 s once on 2 cores
  # shared with the other xdist worker; a run that went on to step 2000 fails the step check below.
  assert victim.returncode == 0 and stop_s < 30, (victim.returncode, stop_s, err)
  last = out.strip().splitlines()[-1]
  step = _steps(stopped)[-1]
  assert 100 <= step < 2000, step  # a checkpoint at the step reached
  assert last == (f"stopped at step {step} (SIGTERM); checkpoint saved in {stopped}/checkpoints; "
                  "rerun the same command to resume"), last
  assert not os.path.exists(os.path.join(stopped, workdir.LOCK_FILE))

  proc = run_module("gan_jax.main", *args, f"--workdir={stopped}", **cache_env)
  assert f"resuming from step {step}" in proc.stdout and "step 2000/2000" in proc.stdout
  assert reference.wait(timeout=300) == 0, reference.communicate()
  _assert_same_final_state(full, stopped, 2000)


def test_sigterm_exits_with_train_preempted_exit_code(tmp_path, cache_env):
  """A Kubernetes Job wants a non-zero status to restart the pod: 143 when configured."""
  run = str(tmp_path / "run")
  victim = _start(["gan_jax.main", *LONG, "--config.train.num_steps=100000",
                   "--config.train.preempted_exit_code=143", f"--workdir={run}"], cache_env)
  try:
    _wait_for(os.path.join(run, "checkpoints", "100"), victim)
    victim.send_signal(signal.SIGTERM)
    out, err = victim.communicate(timeout=60)
  finally:
    victim.kill()
  assert victim.returncode == 143, (out, err)
  assert out.strip().splitlines()[-1].startswith("stopped at step "), out
  assert not os.path.exists(os.path.join(run, workdir.LOCK_FILE))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_sigterm_to_one_of_two_processes_stops_both_at_the_same_step(tmp_path, cache_env):
  """JAX's preemption sync point: the process not signalled stops at the same step."""
  run = str(tmp_path / "run")
  port = _free_port()
  procs = [_start(["gan_jax.main", *LONG, "--config.train.num_steps=100000", f"--workdir={run}",
                   f"--coordinator_address=localhost:{port}", "--num_processes=2",
                   f"--process_id={i}"], cache_env) for i in range(2)]
  try:
    _wait_for(os.path.join(run, "checkpoints", "100"), procs[0])
    procs[1].send_signal(signal.SIGTERM)
    outs = [p.communicate(timeout=120) for p in procs]
  finally:
    for p in procs:
      p.kill()
  assert [p.returncode for p in procs] == [0, 0], outs
  step = _steps(run)[-1]
  for out, _ in outs:
    assert out.strip().splitlines()[-1].startswith(f"stopped at step {step} ("), out
  assert 100 <= step < 100000


ABLATION = textwrap.dedent("""
    from gan_jax import configs
    from gan_jax.sweeps import spec


    def get_config():
      base = configs.use_ring(configs.base_config())
      base.model.width, base.model.depth, base.model.z_dim = 32, 2, 4
      base.optim.schedule = "constant"
      base.train.batch_size, base.train.num_steps = 16, {num_steps}
      base.train.log_every = base.train.checkpoint_every = 100
      base.train.sample_every = 100000
      base.train.eval_num = 200
      c = spec.ablation_config(base)
      c.sweep.variants.minimax = {{"objective": "minimax"}}
      c.sweep.variants.exploding = {{"optim": {{"d_lr": 1e30, "g_lr": 1e30}}}}
      c.sweep.variant_names = {variants}
      c.sweep.axes.seed = (0, 1)
      return c
""")


@pytest.mark.slow
def test_sigterm_mid_sweep_checkpoints_the_run_and_the_rerun_continues(tmp_path, cache_env):
  config = tmp_path / "sweep.py"
  config.write_text(ABLATION.format(num_steps=1000, variants=("minimax",)))
  stopped, full = str(tmp_path / "stopped"), str(tmp_path / "full")
  args = [f"--config={config}"]
  reference = _start(["gan_jax.ablate", *args, f"--workdir={full}"], cache_env)
  victim = _start(["gan_jax.ablate", *args, f"--workdir={stopped}"], cache_env)
  first = os.path.join(stopped, "runs", "minimax_seed0")
  try:
    _wait_for(os.path.join(first, "checkpoints", "100"), victim)
    victim.send_signal(signal.SIGTERM)
    out, err = victim.communicate(timeout=60)
  finally:
    victim.kill()
  assert victim.returncode == 0, err
  step = _steps(first)[-1]
  assert out.strip().splitlines()[-1] == (
      f"[1/2] minimax_seed0: stopped at step {step} (SIGTERM); checkpoint saved in "
      f"{first}/checkpoints; rerun the same command to resume; the sweep continues from there")
  assert not os.path.exists(os.path.join(first, "result.json"))
  assert not os.path.exists(os.path.join(stopped, "runs", "minimax_seed1"))  # the sweep stopped
  assert not os.path.exists(os.path.join(stopped, workdir.LOCK_FILE))

  proc = run_module("gan_jax.ablate", *args, f"--workdir={stopped}", **cache_env)
  assert f"resuming from step {step}" in proc.stdout and "2 ok, 0 diverged" in proc.stdout
  assert reference.wait(timeout=300) == 0, reference.communicate()
  for name in ("minimax_seed0", "minimax_seed1"):
    _assert_same_final_state(os.path.join(full, "runs", name),
                             os.path.join(stopped, "runs", name), 1000)


# ---- One writer per workdir -------------------------------------------------------------------


def _lock_record(pid: int, **extra) -> dict:
  return {"host": socket.gethostname(), "pid": pid, "proc_start": workdir._proc_start(pid),
          "started": "2026-01-01T00:00:00+00:00", **extra}


def test_held_sweep_workdir_is_refused_and_untouched(tmp_path, cache_env):
  config = tmp_path / "sweep.py"
  config.write_text(ABLATION.format(num_steps=4, variants=("minimax",)))
  sweep = tmp_path / "sweep"
  sweep.mkdir()
  (sweep / workdir.LOCK_FILE).write_text(json.dumps(_lock_record(os.getpid())))  # this process
  before = {p: os.path.getmtime(p) for p in sweep.iterdir()}
  proc = run_module("gan_jax.ablate", f"--config={config}", f"--workdir={sweep}", check=False,
                    **cache_env)
  assert proc.returncode == 2
  assert _one_line(proc.stderr) == (
      f"error: --workdir={str(sweep)!r} is in use by a live run (host {socket.gethostname()}, "
      f"pid {os.getpid()}, started 2026-01-01T00:00:00+00:00); wait for it to finish or pick "
      f"another workdir (if that process is gone, delete {workdir.LOCK_FILE} there or pass "
      "--takeover_lock)")
  assert {p: os.path.getmtime(p) for p in sweep.iterdir()} == before


def test_stale_lock_is_taken_over_with_a_warning(tmp_path, cache_env):
  dead = subprocess.Popen(["true"])
  dead.wait()
  run = tmp_path / "run"
  run.mkdir()
  (run / workdir.LOCK_FILE).write_text(json.dumps(_lock_record(dead.pid)))
  proc = run_module("gan_jax.main", TINY, NO_EVAL, f"--workdir={run}", **cache_env)
  warning = _one_line(proc.stderr)
  assert warning.startswith(f"warning: taking over {run / workdir.LOCK_FILE} from a process that "
                            f"is gone (host {socket.gethostname()}, pid {dead.pid}, "), warning
  assert "step 6/6" in proc.stdout and not (run / workdir.LOCK_FILE).exists()


def test_a_reused_pid_does_not_hold_the_lock():
  """A lock naming a live pid whose process started at another time (pid reuse) is stale."""
  assert workdir._alive(_lock_record(os.getpid()))
  assert not workdir._alive(_lock_record(os.getpid(), proc_start="1"))
  assert workdir._alive({**_lock_record(os.getpid()), "host": "another-host"})


# Takes the lock of argv[1] after waiting for the file argv[3], pausing argv[2] s between
# reading the stale holder and setting it aside; prints "won" (then holds it 3 s) or "refused".
TAKER = textwrap.dedent("""
    import os, sys, time
    from gan_jax.errors import ConfigError
    from gan_jax.training import workdir
    run, pause, go = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    workdir._before_set_aside = lambda judged: time.sleep(pause)
    lock = workdir.WorkdirLock(run, heartbeat_s=0)
    open(go + "." + str(os.getpid()), "w").close()
    while not os.path.exists(go):
      time.sleep(0.001)
    try:
      lock._take()
    except ConfigError as e:
      print("refused", e, flush=True)
    else:
      print("won", flush=True)
      time.sleep(3)
      lock.release()
""")


def _other_host_stale_lock(run) -> None:
  """A lock of another host whose heartbeat stopped 700 s ago (> STALE_AFTER_S = 600)."""
  lock = run / workdir.LOCK_FILE
  lock.write_text(json.dumps({**_lock_record(1), "host": "node-that-died"}))
  old = time.time() - 700
  os.utime(lock, (old, old))


@pytest.mark.slow
@pytest.mark.parametrize("pauses", [(0.2, 1.0), (0.2, 0.5, 0.8, 1.0)])
@pytest.mark.parametrize("stale", ["dead_pid", "other_host_no_heartbeat"])
def test_exactly_one_of_concurrent_takers_of_a_stale_lock_wins(tmp_path, pauses, stale):
  """N takers read the same stale holder, and each pauses (0.2 s, 1.0 s, ...) between reading
  it and setting it aside: exactly one takes the lock; the others must not set aside the
  winner's lock, and are refused naming it. (Without the re-read, or without the guard that
  serialises the re-read and the rename, every taker sets a lock aside and wins.)"""
  run = tmp_path / "run"
  run.mkdir()
  if stale == "dead_pid":
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run / workdir.LOCK_FILE).write_text(json.dumps(_lock_record(dead.pid)))
  else:
    _other_host_stale_lock(run)
  go = str(tmp_path / "go")
  takers = [subprocess.Popen([sys.executable, "-c", TAKER, str(run), str(p), go], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for p in pauses]
  deadline = time.monotonic() + 60
  while len([n for n in os.listdir(tmp_path) if n.startswith("go.")]) < len(takers):
    assert time.monotonic() < deadline
    time.sleep(0.01)
  open(go, "w").close()
  outs = [t.communicate(timeout=60) for t in takers]
  verdicts = [out.split()[0] if out else err for out, err in outs]
  assert sorted(verdicts) == ["refused"] * (len(pauses) - 1) + ["won"], outs
  warnings = [line for _, err in outs for line in err.splitlines() if "taking over" in line]
  assert len(warnings) == 1, outs
  winner = takers[verdicts.index("won")].pid
  assert all(f"pid {winner}," in out for (out, _), v in zip(outs, verdicts, strict=True)
             if v == "refused")


def test_a_fresh_lock_of_another_host_holds_and_a_stopped_heartbeat_does_not(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  lock = run / workdir.LOCK_FILE
  lock.write_text(json.dumps({**_lock_record(1), "host": "node-b"}))  # heartbeat: just now
  with pytest.raises(ConfigError, match="in use by a live run .host node-b"):
    workdir.check_usable(str(run))
  with pytest.raises(ConfigError, match="in use by a live run .host node-b"):
    workdir.WorkdirLock(str(run), heartbeat_s=0)._take()
  _other_host_stale_lock(run)
  workdir.check_usable(str(run))  # stale: not refused
  with pytest.raises(ConfigError, match="in use"):  # 0: never stale by age
    workdir.check_usable(str(run), stale_after_s=0)
  taker = workdir.WorkdirLock(str(run), heartbeat_s=0)
  taker._take()
  assert json.loads(lock.read_text())["pid"] == os.getpid()
  taker.release()
  assert not lock.exists()


def test_the_holder_refreshes_the_lock_mtime_while_it_runs(tmp_path):
  run = tmp_path / "run"
  lock = workdir.WorkdirLock(str(run), heartbeat_s=0.05)
  lock._take()
  try:
    old = time.time() - 10_000
    os.utime(run / workdir.LOCK_FILE, (old, old))
    time.sleep(0.5)
    assert time.time() - os.path.getmtime(run / workdir.LOCK_FILE) < 5
  finally:
    lock.release()
  assert not (run / workdir.LOCK_FILE).exists()
  assert not [t for t in threading.enumerate() if t.name == "gan_jax-lock-heartbeat"]


@pytest.mark.slow
def test_takeover_lock_flag_takes_a_lock_that_looks_alive(tmp_path, cache_env):
  run = tmp_path / "run"
  run.mkdir()
  (run / workdir.LOCK_FILE).write_text(json.dumps(_lock_record(os.getpid())))  # live: this pid
  refused = run_module("gan_jax.main", TINY, NO_EVAL, f"--workdir={run}", check=False,
                       **cache_env)
  assert refused.returncode == 2 and "--takeover_lock" in refused.stderr
  proc = run_module("gan_jax.main", TINY, NO_EVAL, f"--workdir={run}", "--takeover_lock",
                    **cache_env)
  warning = _one_line(proc.stderr)
  assert warning.startswith(f"warning: taking over {run / workdir.LOCK_FILE} from a holder set "
                            f"aside by --takeover_lock (host {socket.gethostname()}, pid "
                            f"{os.getpid()}, "), warning
  assert "step 6/6" in proc.stdout and not (run / workdir.LOCK_FILE).exists()


# ---- Failed writes ----------------------------------------------------------------------------

# Runs gan_jax.main with the atomic rename that commits checkpoint step 6 failing as a full disk.
FAILING_SAVE = textwrap.dedent("""
    import errno, sys
    from absl import app
    from orbax.checkpoint._src.path import async_path
    from gan_jax import cli, main

    rename = async_path.rename

    async def failing_rename(src, dst):
      if dst.name == "6":
        raise OSError(errno.ENOSPC, "No space left on device")
      return await rename(src, dst)

    async_path.rename = failing_rename
    sys.argv[0] = "gan_jax.main"
    app.run(main.main, flags_parser=cli.parse_flags)
""")


@pytest.mark.slow
def test_a_failed_checkpoint_save_stops_the_run_and_the_rerun_resumes(tmp_path, cache_env):
  args = [TINY, NO_EVAL, "--config.train.num_steps=12"]
  run, full = str(tmp_path / "run"), str(tmp_path / "full")
  proc = subprocess.run([sys.executable, "-c", FAILING_SAVE, *args, f"--workdir={run}"],
                        cwd=REPO, env=cpu_env(1, **cache_env), capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 1, proc.stderr
  error = _one_line(proc.stderr)
  assert error == (f"error: step 6: saving the checkpoint to {run}/checkpoints failed ([Errno "
                   f"{errno.ENOSPC}] No space left on device); the latest checkpoint is step 3; "
                   "rerun the same command to resume from it"), error
  assert _steps(run) == [3] and "step 12/12" not in proc.stdout

  proc = run_module("gan_jax.main", *args, f"--workdir={run}", **cache_env)
  assert "resuming from step 3" in proc.stdout and "step 12/12" in proc.stdout
  assert _steps(run) == [6, 9, 12]  # keep_checkpoints=3
  assert not [n for n in os.listdir(os.path.join(run, "checkpoints")) if "tmp" in n]
  run_module("gan_jax.main", *args, f"--workdir={full}", **cache_env)
  _assert_same_final_state(full, run, 12)


@pytest.mark.parametrize("case", ["file", "under_a_file"])
def test_a_workdir_that_cannot_be_written_is_refused_up_front(tmp_path, case, cache_env):
  target = {"file": tmp_path / "f", "under_a_file": tmp_path / "f" / "run"}[case]
  (tmp_path / "f").write_text("")
  proc = run_module("gan_jax.main", TINY, f"--workdir={target}", check=False, **cache_env)
  assert proc.returncode == 2, proc.stderr
  expected = {"file": f"error: --workdir={str(target)!r} is a file, not a directory",
              "under_a_file": f"error: --workdir={str(target)!r} cannot be created: "
                              f"{str(tmp_path / 'f')!r} is a file"}[case]
  assert _one_line(proc.stderr).startswith(expected), proc.stderr
  assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_text() == ""


def test_a_read_only_parent_is_refused(tmp_path, monkeypatch):
  """(Root ignores permission bits, so the read-only answer of os.access is simulated.)"""
  from gan_jax.errors import ConfigError

  read_only = str(tmp_path / "ro")
  os.mkdir(read_only, 0o555)
  access = os.access
  monkeypatch.setattr(os, "access", lambda p, mode: access(p, mode) and p != read_only)
  target = os.path.join(read_only, "new", "run")
  with pytest.raises(ConfigError, match=(f"^--workdir={target!r} cannot be created: "
                                         f"{read_only!r} is not writable$")):
    workdir.check_usable(target)
  with pytest.raises(ConfigError, match=f"^--workdir={read_only!r} is not writable;"):
    workdir.check_usable(read_only)


def _file_size_limit(limit: int):
  """RLIMIT_FSIZE = limit for the block: a real short write, then EFBIG (SIGXFSZ ignored)."""
  import contextlib

  @contextlib.contextmanager
  def limited():
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
      yield
    finally:
      resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
      signal.signal(signal.SIGXFSZ, old_handler)

  return limited()


def test_a_failed_metrics_line_leaves_the_file_as_it_was(tmp_path):
  path = str(tmp_path / "metrics.jsonl")
  files.append_line(path, json.dumps({"step": 1}))
  before = open(path, "rb").read()
  with _file_size_limit(len(before) + 5), pytest.raises(OSError) as error:
    files.append_line(path, json.dumps({"step": 2, "d_loss": 0.5}))
  assert error.value.errno == errno.EFBIG
  assert open(path, "rb").read() == before


def test_a_failed_picture_leaves_no_file(tmp_path, monkeypatch):
  """A PNG that fails half-way (here: half its bytes, then a full disk) leaves no file."""
  from gan_jax.evaluation import sampling
  from gan_jax.training import writers

  def half_then_full(picture, path):
    with open(path, "wb") as f:
      f.write(b"\x89PNG\r\n\x1a\n" + bytes(100))
    raise OSError(errno.ENOSPC, "No space left on device")

  writer = writers.RunWriter(str(tmp_path), enabled=True)
  monkeypatch.setattr(sampling, "save_png", half_then_full)
  with pytest.raises(workdir.WriteError) as error:
    writer.picture(7, np.zeros((8, 8, 3), np.uint8))
  writer.close()
  name = os.path.join("samples", "step_0000007.png")
  assert str(error.value).startswith(
      f"step 7: writing {name} failed ([Errno {errno.ENOSPC}] No space left on device)")
  assert os.listdir(tmp_path / "samples") == []


# ---- The input thread -------------------------------------------------------------------------


def _prefetch_threads() -> list[threading.Thread]:
  return [t for t in threading.enumerate() if t.name == prefetch.PREFETCH_THREAD and t.is_alive()]


def test_closing_the_prefetch_stops_a_thread_blocked_on_a_full_queue():
  import contextlib

  with contextlib.closing(prefetch.prefetch(iter(range(100)), size=2)) as batches:
    assert next(batches) == 0
    time.sleep(0.1)  # the worker fills the queue and blocks
    assert _prefetch_threads()
  assert not _prefetch_threads()


def test_no_thread_outlives_a_diverged_run_inside_ablate(tmp_path):
  from tests.helpers import load_config

  config_file = tmp_path / "sweep.py"
  config_file.write_text(ABLATION.format(num_steps=300, variants=("exploding",)))
  config = load_config(str(config_file))
  config.sweep.axes.seed = (0,)
  from gan_jax.sweeps import runner

  assert not _prefetch_threads()
  results = runner.run_sweep(config, str(tmp_path / "sweep"))
  assert [r["status"] for r in results] == ["diverged"]
  assert not _prefetch_threads()
