"""Stopping a run at a step every process agrees on, when the host asks it to (SIGTERM, SIGINT).

What this relies on:
- Several processes (``jax.distributed.initialize`` was called): JAX's preemption service. Its
  notifier installs a C-level SIGTERM handler when the distributed runtime starts; the first
  process to receive SIGTERM tells the coordination service, which picks the step after the
  largest step any process has reached, and ``CheckpointManager.reached_preemption(step)``
  (``multihost_utils.reached_preemption_sync_point``) turns True at that step on every process.
  Nothing here touches SIGTERM then; SIGINT (Ctrl-C) is re-sent to the process as SIGTERM, so it
  takes the same path.
- One process: JAX's sync point is always False without the distributed runtime (it returns
  False when ``jax.distributed`` has no client), so SIGTERM and SIGINT set a flag here, and the
  loop stops after the step in flight.
- Several processes with the preemption service off (``jax_enable_preemption_service=False``):
  no process could tell the others, so no handler is installed and a signal ends the process as
  it always did (the run resumes from its last periodic checkpoint).
A second signal of the same kind restores the previous handler and re-sends the signal, so that
a second Ctrl-C still interrupts a run that is slow to reach its stop.
"""

from __future__ import annotations

import os
import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
  """The run stopped at ``step`` on request and saved a checkpoint there."""

  def __init__(self, step: int, signal_name: str, checkpoint_dir: str):
    self.step, self.signal_name, self.checkpoint_dir = step, signal_name, checkpoint_dir
    super().__init__(
        f"stopped at step {step} ({signal_name}); checkpoint saved in {checkpoint_dir}; rerun "
        "the same command to resume")


def _jax_handles_sigterm() -> bool:
  """Whether JAX's preemption notifier (multi-process runs) owns SIGTERM."""
  from jax._src import distributed  # the state jax.distributed.initialize fills in

  return distributed.global_state.preemption_sync_manager is not None


class StopRequests:
  """A context in which SIGTERM/SIGINT ask the loop to stop; ``reached(step)`` says when.

  ``manager`` is the run's ``orbax.checkpoint.CheckpointManager`` (for ``reached_preemption``).
  Handlers can be installed only from the main thread; elsewhere (a run driven from a thread)
  only JAX's multi-process sync point can stop the run.
  """

  def __init__(self, manager):
    self.manager = manager
    self.received: str | None = None  # name of the first stop signal, single-process runs
    self._previous: dict = {}
    self._jax_sync = self._local = False

  def __enter__(self) -> StopRequests:
    import jax

    self._jax_sync = _jax_handles_sigterm()
    self._local = not self._jax_sync and jax.process_count() == 1
    if threading.current_thread() is not threading.main_thread():
      return self
    handled = (signal.SIGINT,) if self._jax_sync else STOP_SIGNALS if self._local else ()
    for signum in handled:
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous = {}

  def _handle(self, signum, frame) -> None:
    del frame
    if self._jax_sync:  # hand it to JAX's preemption notifier
      self.received = self.received or signal.Signals(signum).name
      signal.signal(signum, self._previous.pop(signum))
      os.kill(os.getpid(), signal.SIGTERM)
      return
    if self.received is not None:  # the second one: what the signal did before
      signal.signal(signum, self._previous.pop(signum, signal.SIG_DFL))
      signal.raise_signal(signum)
      return
    self.received = signal.Signals(signum).name  # (no print: the handler may interrupt one)

  def reached(self, step: int) -> bool:
    """Whether to stop after ``step``: the same step on every process."""
    if self.manager.reached_preemption(step):
      self.received = self.received or "preemption notice"
      return True
    return self._local and self.received is not None
