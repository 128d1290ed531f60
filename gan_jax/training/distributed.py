"""Multi-process runs on JAX's own distributed runtime (one process per host)."""

from __future__ import annotations

import os

import jax
from absl import flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0, for multi-process runs (or "
                      "JAX_COORDINATOR_ADDRESS).")
  flags.DEFINE_integer("num_processes", None,
                       "Number of processes in the run (or JAX_NUM_PROCESSES).")
  flags.DEFINE_integer("process_id", None, "This process's index (or JAX_PROCESS_ID).")


def maybe_initialize() -> bool:
  """Calls ``jax.distributed.initialize`` when this process is one of several."""
  address = FLAGS.coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
  num = FLAGS.num_processes or int(os.environ.get("JAX_NUM_PROCESSES", "0") or 0)
  pid = FLAGS.process_id if FLAGS.process_id is not None else (
      int(os.environ["JAX_PROCESS_ID"]) if "JAX_PROCESS_ID" in os.environ else None)
  if num <= 1 and not address:
    return False
  if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(jax.config.jax_platforms):
    # CPU processes need a collectives backend for cross-process all-reduces.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=address, num_processes=num or None,
                             process_id=pid)
  return True
