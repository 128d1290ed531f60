"""Data parallelism: maps a per-device step over devices with ``jax.pmap`` or ``jax.shard_map``.

Both modes run the same per-device function with the named axis ``'batch'``. The canonical state
(what is checkpointed and sampled from) is an ordinary pytree; ``DataParallel`` converts it to and
from each mode's device layout:
- pmap: every leaf gains a leading axis of size ``local_device_count``, one copy per device;
- shard_map: leaves are global arrays replicated over a 1-D mesh of all devices.
Batches are split along axis 0 over devices in both modes.

With several processes (``jax.distributed``), each process passes its own devices' part of the
state and batch; the collectives of the step span every process's devices, and ``get_state`` and
``fetch`` return this process's copy of the replicated values.

Steps in flight on XLA:CPU. With several CPU devices in one process, XLA's PjRt CPU client runs
each device's part of a step on a client thread pool of max(cores, devices) threads, and a thread
that runs a part blocks until that part's collectives complete. A launch that finds its device
at ``max_inflight_computations_per_device`` (32) queued programs also blocks a pool thread, on a
semaphore. When the host dispatches 32 steps ahead, such a launch can hold the last free thread
while another device's part of the oldest step waits for one: every device then waits for a
collective partner that never runs, and XLA aborts after its 40 s rendezvous timeout
(docs/design.md, "Data parallelism"). ``map_step`` therefore lets at most
``CPU_MAX_STEPS_IN_FLIGHT`` steps run at once on multi-device CPU, by waiting for the metrics of
the oldest before returning; elsewhere (one device, GPU, TPU) it does not wait.
"""

from __future__ import annotations

import collections

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_jax.errors import ConfigError
from gan_jax.games.gan_steps import AXIS

# Steps a multi-device CPU host may have dispatched but not finished (see the module docstring):
# far below XLA:CPU's 32 queued programs per device; 2 keeps the host one step ahead.
CPU_MAX_STEPS_IN_FLIGHT = 2


class DataParallel:
  """One mapping mode over a set of devices (all of them, across processes, by default)."""

  def __init__(self, mode: str = "pmap", devices=None):
    if mode not in ("pmap", "shard_map"):
      raise ConfigError(f"parallel={mode!r} is unknown; valid: pmap, shard_map")
    self.mode = mode
    self.devices = list(devices) if devices is not None else jax.devices()
    self.local_devices = [d for d in self.devices if d.process_index == jax.process_index()]
    self.num_devices = len(self.devices)
    self.mesh = Mesh(np.array(self.devices), (AXIS,))
    self._replicated = NamedSharding(self.mesh, P())
    self._split = NamedSharding(self.mesh, P(AXIS))
    self._local_split = NamedSharding(Mesh(np.array(self.local_devices), (AXIS,)), P(AXIS))
    multi_device_cpu = (len(self.local_devices) > 1
                        and self.local_devices[0].platform == "cpu")
    self.max_steps_in_flight = CPU_MAX_STEPS_IN_FLIGHT if multi_device_cpu else None

  def map_step(self, step_fn, *, donate_state: bool = True):
    """``step_fn(state, batch, key) -> (state, metrics)`` mapped over devices and jitted.

    On multi-device CPU the result waits for the oldest step's metrics once
    ``max_steps_in_flight`` steps are running (module docstring); ``.lower()`` is the jitted
    function's, and ``limit_in_flight`` wraps what it compiles.
    """
    donate = (0,) if donate_state else ()
    if self.mode == "pmap":
      mapped = jax.pmap(step_fn, axis_name=AXIS, in_axes=(0, 0, None),
                        devices=self.devices, donate_argnums=donate)
    else:
      mapped = jax.jit(jax.shard_map(step_fn, mesh=self.mesh, in_specs=(P(), P(AXIS), P()),
                                     out_specs=(P(), P()), check_vma=False),
                       donate_argnums=donate)
    return self.limit_in_flight(mapped)

  def limit_in_flight(self, step_fn):
    """``step_fn`` (returning ``(state, metrics)``), with at most ``max_steps_in_flight`` calls
    running at once; ``step_fn`` itself where there is no limit."""
    if self.max_steps_in_flight is None:
      return step_fn
    return _InFlightLimited(step_fn, self.max_steps_in_flight)

  def put_state(self, state):
    """The canonical state in this mode's device layout."""
    if self.mode == "pmap":  # with the sharding pmap's outputs have, so it compiles once
      n = len(self.local_devices)
      stacked = jax.tree.map(lambda x: np.broadcast_to(x, (n,) + np.shape(x)),
                             jax.device_get(state))
      return jax.device_put(stacked, self._local_split)
    if jax.process_count() == 1:
      return jax.device_put(state, self._replicated)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self._replicated, np.asarray(x)), state)

  def get_state(self, state):
    """The canonical state back from this mode's layout (arrays stay on a device)."""
    if self.mode == "pmap":
      return jax.tree.map(lambda x: x[0], state)
    return jax.tree.map(_local_copy, state)

  def put_batch(self, batch: dict):
    """This process's examples (leading axis) split over its devices."""
    if self.mode == "pmap":
      n = len(self.local_devices)
      batch = jax.tree.map(lambda x: x.reshape((n, x.shape[0] // n) + x.shape[1:]), batch)
      return jax.device_put(batch, self._local_split)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self._split, x), batch)

  def fetch(self, tree):
    """Device-replicated values (e.g. metrics from ``map_step``) to host numpy."""
    if self.mode == "pmap":
      return jax.tree.map(lambda x: x[0], jax.device_get(tree))
    return jax.device_get(jax.tree.map(_local_copy, tree))


def _local_copy(x):
  """This process's copy of a replicated array (the array itself if it is all local)."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    return x.addressable_data(0)
  return x


class _InFlightLimited:
  """Calls a mapped step; before returning, waits for the metrics of the call ``limit`` calls
  back (metrics are never donated, so they can be waited on after the state moved on)."""

  def __init__(self, step_fn, limit: int):
    self._step_fn, self._limit = step_fn, limit
    self._running = collections.deque()

  def __call__(self, *args):
    state, metrics = self._step_fn(*args)
    self._running.append(metrics)
    while len(self._running) > self._limit:
      jax.block_until_ready(self._running.popleft())
    return state, metrics

  def lower(self, *args, **kwargs):
    return self._step_fn.lower(*args, **kwargs)
