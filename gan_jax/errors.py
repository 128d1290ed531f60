"""Errors that the command-line tools report as one line: ``ConfigError`` (exit status 2) and
``NonFiniteError`` (exit status 1)."""


class ConfigError(ValueError):
  """Bad user input: a config field, a data file or a workdir that cannot be used as given.

  The message is one line that names the field and, where there are any, the valid choices.
  """


class NonFiniteError(RuntimeError):
  """Training stopped on non-finite values: a loss or gradient became NaN/inf (with
  train.skip_nonfinite off), or train.max_consecutive_skips steps in a row skipped an update.

  ``step``: the train step it happened at; ``quantity``: the metric that was not finite (or
  ``'skipped updates'``). The message is one line for the command line.
  """

  def __init__(self, message: str, *, step: int, quantity: str):
    super().__init__(message)
    self.step, self.quantity = step, quantity


def check_choice(field: str, value, valid) -> None:
  """ConfigError ``field=value is unknown; valid: a, b`` unless ``value`` is one of ``valid``."""
  if value not in valid:
    raise ConfigError(f"{field}={value!r} is unknown; valid: {', '.join(map(str, valid))}")
