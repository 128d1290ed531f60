"""Small pieces shared by the command-line tools: flag parsing and one-line errors."""

from __future__ import annotations

import os
import sys

from absl import flags
from ml_collections.config_flags import config_flags

from gan_jax.errors import ConfigError

USAGE_EXIT = 2


def fail(message: str, status: int = USAGE_EXIT):
  """Prints ``error: message`` as one line on stderr and exits with ``status``."""
  print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
  sys.exit(status)


def parse_flags(argv):
  """absl flag parsing whose errors (unknown flags, bad overrides) are one line and exit 2."""
  try:
    parsed = flags.FLAGS(argv)
    for name in flags.FLAGS:
      flag = flags.FLAGS[name]
      if config_flags.is_config_flag(flag) and flag.value is not None:
        flag.value.keys()  # a config file that failed to load raises only when first used
    return parsed
  except (AttributeError, KeyError) as e:  # an override of a field the config lacks
    field = str(e).strip("\"'")
    given = [a.split("=")[0] for a in argv[1:] if a.startswith("--config")
             and field in a.split("=")[0].split(".")]
    fail(f"{given[0]}: the config has no field {field!r}" if given else f"{e!r}")
  except (flags.Error, ConfigError, OSError, ValueError) as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    # Config-file errors carry a traceback: keep the first line and the error at its end.
    fail(" ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else type(e).__name__)


def check_run_flags(argv, flag_values, *, config_example: str, workdir_example: str) -> None:
  """The shared preamble of the CLIs that take --config and --workdir: refuses stray arguments
  and missing flags in one line, and quiets library logs (``quiet_logs``)."""
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if flag_values.config is None:
    fail(f"--config is required, e.g. --config={config_example}")
  if not flag_values.workdir:
    fail(f"--workdir is required, e.g. --workdir={workdir_example}")
  quiet_logs(flag_values)


def quiet_logs(flag_values) -> None:
  """Unless --verbosity was given, drops library INFO logs (Orbax logs every save and restore,
  JAX its backend probing) and Orbax's own reports: a tool prints what the user asked for, a
  failed save reaches the user as the trainer's one line (workdir.WriteError), and a preemption
  stop as its one line."""
  import logging as std_logging

  from absl import logging

  if not flag_values["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
    std_logging.getLogger("absl").addFilter(_NotFromOrbax())


class _NotFromOrbax:
  """A logging filter that drops the records Orbax logs (through absl)."""

  def filter(self, record) -> bool:
    return f"{os.sep}orbax{os.sep}" not in record.pathname


def load_run_from_flags(argv, flag_values, *, min_num: int, step: int | None = None):
  """(experiment, state, step) of --workdir's checkpoint ``step`` (None: the latest), for the
  sample/evaluate CLIs.

  Refuses stray arguments, a missing --workdir, --num below ``min_num`` and a workdir without a
  readable checkpoint, each in one line.
  """
  if len(argv) > 1:
    fail(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flag_values.workdir:
    fail("--workdir is required")
  if flag_values.num < min_num:
    fail(f"--num={flag_values.num} must be an integer >= {min_num}")
  quiet_logs(flag_values)
  from gan_jax.training import experiment

  try:
    return experiment.load_run(flag_values.workdir, step=step)
  except ConfigError as e:
    fail(str(e))
