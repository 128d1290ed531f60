"""The runs of a sweep: an ablation config (``base`` run config + ``sweep``) expanded into runs.

Experiment files import this module (``spec.ablation_config``), never the ``gan_jax.ablate`` CLI;
the config format is described in ``gan_jax.ablate``.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re

import ml_collections

from gan_jax import configs
from gan_jax.errors import ConfigError

SEED_FIELD = "seed"


def empty_sweep() -> ml_collections.ConfigDict:
  """The sweep part of an ablation config, with nothing to sweep yet."""
  s = ml_collections.ConfigDict()
  s.variants = ml_collections.ConfigDict()  # name -> nested overrides of base fields.
  s.variant_names = ()  # Variants to run, in order; () = all of them, alphabetically.
  s.axes = ml_collections.ConfigDict()  # Nested field -> tuple of values.
  return s


def ablation_config(base: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """{base: the run config, sweep: empty_sweep()}: what an ablation config file starts from."""
  c = ml_collections.ConfigDict()
  c.base = base
  c.sweep = empty_sweep()
  return c


@dataclasses.dataclass
class RunSpec:
  """One run of a sweep."""

  name: str  # Directory name under WORKDIR/runs, e.g. 'minimax_seed0'.
  group: str  # The name without the seed: what a mean over seeds is taken over.
  seed: int
  settings: dict  # Table columns: {'variant': ..., <axis field>: value, ...}.
  config: ml_collections.ConfigDict


def _label(field: str, value) -> str:
  """A file-name-safe label of one setting: strings as they are, else '<last key><value>'."""
  text = value if isinstance(value, str) else f"{field.split('.')[-1]}{value}"
  return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", str(text))


def _set_field(config, field: str, value, *, where: str) -> None:
  """config.<field> = value, with a one-line ConfigError for unknown fields or wrong types."""
  *parents, leaf = field.split(".")
  node = config
  try:
    for part in parents:
      node = node[part]
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
      raise KeyError(field)
    if isinstance(node[leaf], ml_collections.ConfigDict):
      raise TypeError(f"{field} is a group of fields, not one field")
    node[leaf] = value
  except KeyError:
    raise ConfigError(f"{where} sets {field!r}, which is not a field of the run config "
                      "(config.base)") from None
  except TypeError as e:
    raise ConfigError(f"{where} sets {field}={value!r}: {' '.join(str(e).split())}") from None


def expand_sweep(config) -> list[RunSpec]:
  """The runs of an ablation config (``base`` + ``sweep``), seed outermost; raises ConfigError."""
  for part in ("base", "sweep"):
    if part not in config:
      raise ConfigError(f"the config has no '{part}' part; an ablation config is "
                        "{base: run config, sweep: {variants, variant_names, axes}}")
  base, sweep = config.base, config.sweep
  variants = sweep.get("variants") or {}
  names = tuple(sweep.get("variant_names") or sorted(variants))
  unknown = [n for n in names if n not in variants]
  if unknown:
    raise ConfigError(f"sweep.variant_names names unknown variants {unknown}; declared: "
                      f"{', '.join(sorted(variants)) or 'none'}")
  if len(set(names)) != len(names):
    raise ConfigError(f"sweep.variant_names={names} repeats a variant")
  axes = configs.flatten(sweep.get("axes") or {})
  for field, values in axes.items():
    if not isinstance(values, tuple | list) or not values:
      raise ConfigError(f"sweep.axes.{field}={values!r} must be a non-empty tuple of values")
    if len(set(map(repr, values))) != len(values):
      raise ConfigError(f"sweep.axes.{field}={values!r} repeats a value")
  seed_axis = axes.pop(SEED_FIELD, None)
  for seed in seed_axis or ():
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
      raise ConfigError(f"sweep.axes.seed holds {seed!r}; seeds are non-negative integers")
  swept = set(axes) | ({SEED_FIELD} if seed_axis else set())
  variant_items = [(n, configs.flatten(variants[n])) for n in names] or [(None, {})]
  for name, overrides in variant_items:
    clash = sorted(set(overrides) & swept)
    if clash:
      raise ConfigError(f"variant {name!r} and sweep.axes both set {', '.join(clash)}")
  runs = []
  for seed in seed_axis or (None,):
    for (variant, overrides), values in itertools.product(
        variant_items, itertools.product(*axes.values())):
      config_i = copy.deepcopy(base)
      settings, labels = {}, []
      if variant is not None:
        settings["variant"] = variant
        labels.append(_label("variant", variant))
      for field, value in overrides.items():
        _set_field(config_i, field, value, where=f"variant {variant!r}")
      for field, value in zip(axes, values, strict=True):
        _set_field(config_i, field, value, where=f"sweep.axes.{field}")
        settings[field] = value
        labels.append(_label(field, value))
      if seed is not None:
        _set_field(config_i, SEED_FIELD, seed, where="sweep.axes.seed")
      settings[SEED_FIELD] = config_i.seed
      group = "_".join(labels) or "base"
      runs.append(RunSpec(f"{group}_seed{config_i.seed}", group, config_i.seed, settings,
                          config_i))
  seen = {}
  for r in runs:
    if r.name in seen:
      raise ConfigError(f"two runs of the sweep are both named {r.name!r} ({seen[r.name]} and "
                        f"{r.settings}); give variants or axis values distinct names")
    seen[r.name] = r.settings
  return runs
