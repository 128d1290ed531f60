"""Errors that the command-line tools report as one line and exit status 2."""


class ConfigError(ValueError):
  """Bad user input: a config field, a data file or a workdir that cannot be used as given.

  The message is one line that names the field and, where there are any, the valid choices.
  """
