"""Trains a GAN: ``python -m gan_jax.main --config=experiments/cgan.py --workdir=runs/cgan``.

Rerunning the same command resumes from the workdir's latest checkpoint. SIGTERM or SIGINT
stops the run after the step in flight with a checkpoint at that step (exit status
``train.preempted_exit_code``, 0 by default); a second run on a workdir that a live run holds is
refused (exit 2) unless ``--takeover_lock`` (the operator knows that run is gone); a failed write
stops it (exit 1).
Several processes (one per host) form one run when --num_processes > 1 (or JAX's cluster
environment says so).
"""

from __future__ import annotations

from absl import app, flags
from ml_collections import config_flags

from gan_jax import cli
from gan_jax.errors import ConfigError
from gan_jax.training import distributed

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
config_flags.DEFINE_config_file(
    "config", None, "An experiments/*.py config file; fields can be overridden with "
    "--config.x.y=value.", lock_config=True)
flags.DEFINE_bool("takeover_lock", False, "Take over the workdir's lock even if its holder "
                  "looks alive (a run on another host that is known to be gone).")
distributed.define_flags()


def main(argv):
  cli.check_run_flags(argv, FLAGS, config_example="experiments/cgan.py",
                      workdir_example="runs/cgan")
  distributed.maybe_initialize()
  from gan_jax.training import (
    checkpointing,  # after jax.distributed.init
    loop,
    preemption,
    workdir,
  )

  try:
    if FLAGS.takeover_lock:
      workdir.take_over(FLAGS.workdir)
    loop.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except ConfigError as e:
    cli.fail(str(e))
  except preemption.Preempted as e:  # a checkpoint at the stop step; a rerun resumes
    print(e, flush=True)
    code = FLAGS.config.train.get("preempted_exit_code", 0)
    if code:
      raise SystemExit(code) from None
  except (loop.NonFiniteError, checkpointing.NonFiniteStateError, workdir.WriteError) as e:
    cli.fail(str(e), status=1)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
