"""The run directory: checked up front, held by one writer at a time, never left half-written.

- ``check_usable`` refuses (ConfigError, exit 2) a workdir that is a file, or that cannot be
  created or written (its nearest existing ancestor is a file or not writable), and (one
  process) one that a live run holds, before anything is read or written. Missing parents are
  created.
- ``WorkdirLock`` is the one-writer rule: ``workdir/gan_jax.lock`` names the holder (host, pid,
  start time). It is created atomically (a hard link of a complete file, so it is never seen
  half-written). The holder refreshes the file's mtime every ``heartbeat_s`` (a heartbeat); a
  lock is stale when its process is gone (same host, no such pid, or the pid now belongs to a
  process started later) or, from another host, when it was not refreshed for
  ``stale_after_s`` (0: never by age). A stale lock is taken over with a warning, atomically:
  takers set a lock aside one at a time (``fcntl.flock`` on ``gan_jax.lock.takeover``, which is
  never removed), each re-reading the lock under that guard and setting it aside only if it still
  names the holder it judged stale, so of N takers of one stale lock exactly one wins.
  ``set_aside`` (``--takeover_lock``) sets aside any lock, live or not, the same way. Only
  process 0 takes it; the others learn the outcome from it.
- ``write_failed`` names the step and the OS error of a failed write (``gan_jax.files`` leaves
  the file as it was).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
import threading
import time

from gan_jax.errors import ConfigError

LOCK_FILE = "gan_jax.lock"
TAKEOVER_GUARD = "gan_jax.lock.takeover"  # flock'ed while a taker re-reads and sets aside
HEARTBEAT_S = 30.0  # how often the holder refreshes the lock's mtime
STALE_AFTER_S = 600.0  # a lock of another host not refreshed for this long is stale (train.*)


class WriteError(RuntimeError):
  """Writing a run's checkpoint, metrics or samples failed; the run stops (exit status 1)."""


def os_error_text(error: BaseException) -> str:
  """The OS error behind ``error`` (searched through causes and exception groups), as text."""
  seen, todo = set(), [error]
  while todo:
    e = todo.pop(0)
    if e is None or id(e) in seen:
      continue
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno is not None:
      where = f": {e.filename!r}" if e.filename else ""
      return f"[Errno {e.errno}] {e.strerror}{where}"
    todo += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]
  return " ".join(str(error).split())[:300] or type(error).__name__


def write_failed(step: int, what: str, error: BaseException) -> WriteError:
  return WriteError(f"step {step}: writing {what} failed ({os_error_text(error)}); the run "
                    "stopped; rerun the same command to resume from the latest checkpoint")


# ---- Up-front checks --------------------------------------------------------------------------


def check_usable(workdir: str, *, stale_after_s: float = STALE_AFTER_S) -> None:
  """Raises ConfigError when ``workdir`` cannot be created or written, or a live run holds it."""
  path = os.path.abspath(workdir)
  if os.path.exists(path):
    if not os.path.isdir(path):
      raise ConfigError(f"--workdir={workdir!r} is a file, not a directory; pick another path")
    if not os.access(path, os.W_OK | os.X_OK):
      raise ConfigError(f"--workdir={workdir!r} is not writable; pick another path")
    # With several processes only WorkdirLock.acquire decides (process 0, then a broadcast): a
    # check here could see process 0's lock of the previous run in the same processes.
    holder = read_holder(path) if _single_process() else None
    if holder is not None and _alive(holder, _age_s(path), stale_after_s):
      raise ConfigError(_held_message(workdir, holder))
    return
  ancestor = os.path.dirname(path)
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise ConfigError(f"--workdir={workdir!r} cannot be created: {ancestor!r} is a file")
  if not os.access(ancestor, os.W_OK | os.X_OK):
    raise ConfigError(f"--workdir={workdir!r} cannot be created: {ancestor!r} is not writable")


def _single_process() -> bool:
  import jax

  return jax.process_count() == 1


# ---- The lock ---------------------------------------------------------------------------------


def _proc_start(pid: int) -> str | None:
  """The start time of process ``pid`` in clock ticks since boot (Linux), to spot pid reuse."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[19]
  except (OSError, IndexError):
    return None


def _me() -> dict:
  return {"host": socket.gethostname(), "pid": os.getpid(), "proc_start": _proc_start(os.getpid()),
          "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
          "command": " ".join(sys.argv)}


def read_holder(workdir: str) -> dict | None:
  """The lock's holder record, or None when the workdir is not held."""
  try:
    with open(os.path.join(workdir, LOCK_FILE)) as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError):
    return {"host": "?", "pid": "?", "started": "?"}  # unreadable: treat as held


def _age_s(workdir: str) -> float | None:
  """Seconds since the lock's last heartbeat (its mtime); None when there is no lock."""
  try:
    return time.time() - os.stat(os.path.join(workdir, LOCK_FILE)).st_mtime
  except FileNotFoundError:
    return None


def _alive(holder: dict, age_s: float | None = None,
           stale_after_s: float = STALE_AFTER_S) -> bool:
  """False only when the holder certainly stopped: same host, and its pid is gone or reused;
  another host, and its heartbeat is older than ``stale_after_s`` (> 0)."""
  if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
    return not (stale_after_s > 0 and age_s is not None and age_s > stale_after_s)
  try:
    os.kill(holder["pid"], 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's live process
    return True
  start = holder.get("proc_start")
  return start is None or _proc_start(holder["pid"]) in (None, start)


def _held_message(workdir: str, holder: dict) -> str:
  return (f"--workdir={workdir!r} is in use by a live run (host {holder.get('host')}, pid "
          f"{holder.get('pid')}, started {holder.get('started')}); wait for it to finish or pick "
          f"another workdir (if that process is gone, delete {LOCK_FILE} there or pass "
          "--takeover_lock)")


# Called between re-reading the stale holder and setting it aside, under the takeover guard
# (tests widen the race with it: without the guard or the re-read, two takers both set aside).
_before_set_aside = None


@contextlib.contextmanager
def _takeover_guard(workdir: str):
  """Holds an exclusive ``flock`` on ``workdir/TAKEOVER_GUARD``: one taker at a time."""
  fd = os.open(os.path.join(workdir, TAKEOVER_GUARD), os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)  # releases the flock


def set_aside(workdir: str, judged: dict | None, *, why: str) -> bool:
  """Renames the lock to ``LOCK_FILE.stale`` if it still names ``judged`` (None: whatever holder
  it names), under the takeover guard, and warns; False when it names someone else or is gone.

  The re-read and the rename happen under one ``flock``: a taker that judged a holder stale
  sets aside only that holder's file, never the lock another taker has taken meanwhile."""
  path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
  with _takeover_guard(os.path.dirname(path)):
    holder = read_holder(workdir)
    if holder is None or (judged is not None and holder != judged):
      return False
    if _before_set_aside is not None:
      _before_set_aside(holder)
    os.rename(path, f"{path}.stale")
  print(f"warning: taking over {path} from {why} (host {holder.get('host')}, pid "
        f"{holder.get('pid')}, started {holder.get('started')})", file=sys.stderr, flush=True)
  return True


def take_over(workdir: str) -> None:
  """``--takeover_lock``: sets aside the workdir's lock whoever holds it (process 0 only)."""
  import jax

  if jax.process_index() == 0 and os.path.isfile(os.path.join(workdir, LOCK_FILE)):
    set_aside(workdir, None, why="a holder set aside by --takeover_lock")


class WorkdirLock:
  """Holds ``workdir/gan_jax.lock`` from ``acquire`` (which creates the workdir) to ``release``,
  refreshing its mtime every ``heartbeat_s`` from a daemon thread meanwhile."""

  def __init__(self, workdir: str, *, stale_after_s: float = STALE_AFTER_S,
               heartbeat_s: float = HEARTBEAT_S):
    self.workdir = workdir
    self.path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
    self.stale_after_s, self.heartbeat_s = stale_after_s, heartbeat_s
    self.record = None
    self._stop = threading.Event()
    self._heartbeat = None

  def acquire(self) -> WorkdirLock:
    """Takes the lock on process 0 (ConfigError if a live run holds it) and tells the others."""
    import jax

    error = None
    if jax.process_index() == 0:
      try:
        self._take()
      except ConfigError as e:
        error = e
    if jax.process_count() > 1:
      import numpy as np
      from jax.experimental import multihost_utils

      refused = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
      if int(refused) and error is None:
        holder = read_holder(self.workdir) or {}
        error = ConfigError(_held_message(self.workdir, holder))
    if error is not None:
      raise error
    return self

  def _take(self) -> None:
    try:
      os.makedirs(self.workdir, exist_ok=True)
      mine = _me()
      tmp = f"{self.path}.{mine['host']}.{mine['pid']}.tmp"
      with open(tmp, "w") as f:
        json.dump(mine, f)
      try:
        for _ in range(3):
          try:
            os.link(tmp, self.path)
            self.record = mine
            self._start_heartbeat()
            return
          except FileExistsError:
            holder = read_holder(self.workdir)
            if holder is None:
              continue  # released meanwhile
            if _alive(holder, _age_s(self.workdir), self.stale_after_s):
              raise ConfigError(_held_message(self.workdir, holder)) from None
            set_aside(self.workdir, holder, why=self._stale_reason(holder))
      finally:
        os.remove(tmp)
    except OSError as e:
      raise ConfigError(f"--workdir={self.workdir!r} cannot be written ({os_error_text(e)}); "
                        "pick another path") from None
    raise ConfigError(f"--workdir={self.workdir!r}: could not take {LOCK_FILE}; retry")

  def _stale_reason(self, holder: dict) -> str:
    if holder.get("host") == socket.gethostname():
      return "a process that is gone"
    return f"a run whose heartbeat stopped over {self.stale_after_s:g} s ago"

  def _start_heartbeat(self) -> None:
    if self.heartbeat_s <= 0:
      return
    self._stop.clear()
    self._heartbeat = threading.Thread(target=self._beat, name="gan_jax-lock-heartbeat",
                                       daemon=True)
    self._heartbeat.start()

  def _beat(self) -> None:
    """Refreshes the lock's mtime while it still names this process."""
    while not self._stop.wait(self.heartbeat_s):
      if not self._holds():
        print(f"warning: {self.path} no longer names this process (another run took it over); "
              "this run keeps writing", file=sys.stderr, flush=True)
        return
      with contextlib.suppress(OSError):
        os.utime(self.path)

  def _holds(self) -> bool:
    holder = read_holder(self.workdir)
    return holder is not None and self.record is not None and all(
        holder.get(k) == self.record[k] for k in ("host", "pid", "started"))

  def release(self) -> None:
    """Stops the heartbeat and removes the lock if this process still holds it."""
    self._stop.set()
    if self._heartbeat is not None:
      self._heartbeat.join()
      self._heartbeat = None
    if self.record is None:
      return
    if self._holds():
      with contextlib.suppress(OSError):
        os.remove(self.path)
    self.record = None

  def __enter__(self) -> WorkdirLock:
    """The lock, not yet taken (``acquire`` takes it); leaving the context releases it."""
    return self

  def __exit__(self, *exc) -> None:
    self.release()
