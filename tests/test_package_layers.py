"""The package's layers only import downward (docs/design.md, "Layers"), and no module passes 400
lines. Every import counts, at module level or inside a function."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "gan_jax"

# Bottom first. A module may import from its own unit (its folder, or itself) and from any unit of
# an earlier layer; never from its own layer's other units, nor from a later layer.
LAYERS = (
    ("errors", "rng", "files"),
    ("ops", "losses", "data"),
    ("models", "vae_losses"),
    ("evaluation",),
    ("games",),
    ("configs",),
    ("training",),
    ("sweeps",),
    ("cli",),
    ("main", "sample", "evaluate", "fid", "bench", "ablate", "augment", "gan_vs_vae"),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
MAX_LINES = 400


def _unit(module: str) -> str:
  """'gan_jax.training.loop' -> 'training'; 'gan_jax' -> ''."""
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else ""


def _imported_units(path: pathlib.Path) -> set[str]:
  units = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gan_jax":
      if node.module == "gan_jax":  # from gan_jax import configs, losses
        units |= {alias.name for alias in node.names}
      else:
        units.add(_unit(node.module))
    elif isinstance(node, ast.Import):
      units |= {_unit(a.name) for a in node.names if a.name.split(".")[0] == "gan_jax"}
  return units - {""}


def _modules():
  return sorted(p for p in PACKAGE.rglob("*.py"))


def _own_unit(path: pathlib.Path) -> str:
  rel = path.relative_to(PACKAGE)
  return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def upward_units(path: pathlib.Path, own: str) -> list[str]:
  """The units that ``path`` (a module of unit ``own``) imports from its own layer or above."""
  return sorted(u for u in _imported_units(path) - {own} if RANK[u] >= RANK[own])


def test_every_unit_of_the_package_has_a_layer():
  units = {_own_unit(p) for p in _modules()} - {"__init__"}
  assert units - set(RANK) == set(), "add the new unit to LAYERS (and to docs/design.md)"
  assert set(RANK) - units == set(), "a unit in LAYERS no longer exists"


def test_no_module_imports_from_its_own_layer_or_above():
  bad = {str(p.relative_to(PACKAGE)): upward_units(p, _own_unit(p)) for p in _modules()
         if _own_unit(p) != "__init__"}
  assert {k: v for k, v in bad.items() if v} == {}


def test_the_check_catches_an_upward_import_inside_a_function(tmp_path):
  """evaluation importing training (an arrow the design forbids) is reported; a lower import is
  not."""
  module = tmp_path / "sampling.py"
  module.write_text((PACKAGE / "evaluation" / "sampling.py").read_text()
                    + "\n\ndef _f():\n  from gan_jax.training import loop\n"
                    + "  from gan_jax import rng\n")
  assert upward_units(module, "evaluation") == ["training"]
  assert upward_units(PACKAGE / "evaluation" / "sampling.py", "evaluation") == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path):
  assert len(path.read_text().splitlines()) <= MAX_LINES
