"""Small pieces shared by the command-line tools: flag parsing and one-line errors."""

from __future__ import annotations

import sys

from absl import flags

from gan_jax.errors import ConfigError

USAGE_EXIT = 2


def fail(message: str, status: int = USAGE_EXIT):
  """Prints ``error: message`` as one line on stderr and exits with ``status``."""
  print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
  sys.exit(status)


def parse_flags(argv):
  """absl flag parsing whose errors (unknown flags, bad overrides) are one line and exit 2."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, ConfigError, AttributeError, KeyError, ValueError) as e:
    fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
