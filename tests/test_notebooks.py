"""The lecture notebooks execute top to bottom (small step counts), and the committed ones hold
the outputs of a full run."""

from __future__ import annotations

import importlib.util
import os

import nbformat
import pytest

from tests.helpers import REPO, compile_cache_env

SMALL_SCALE = "0.02"  # GAN_JAX_NOTEBOOK_STEPS_SCALE for CI: a few steps per run.
# Per cell: the translation notebook's training cell (three runs, each compiling its steps and
# evaluating) took over 600 s in CI on a 2-core Intel Xeon.
CELL_TIMEOUT_S = 1500


def _run_all():
  spec = importlib.util.spec_from_file_location(
      "run_all", os.path.join(REPO, "notebooks", "run_all.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


RUN_ALL = _run_all()


def _code_cells(nb):
  return [c for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict:
  """One persistent compilation cache for the notebooks' kernels and the CLI runs they start:
  runs that compile the same step (a resumed run, the sample calls) load it."""
  return compile_cache_env(tmp_path_factory.mktemp("notebook_compile_cache"))


@pytest.mark.slow
@pytest.mark.parametrize("name", RUN_ALL.NOTEBOOKS)
def test_notebook_executes_with_small_steps(name, tmp_path, cache_env):
  """Every cell runs without error (nbclient raises CellExecutionError on the first that fails)."""
  nb = RUN_ALL.execute(name, timeout=CELL_TIMEOUT_S, env={
      "GAN_JAX_NOTEBOOK_STEPS_SCALE": SMALL_SCALE, "GAN_JAX_NOTEBOOK_RUNS": str(tmp_path),
      "GAN_JAX_NOTEBOOK_FIGURES": "", **cache_env})
  cells = _code_cells(nb)
  assert cells and all(c.execution_count for c in cells)
  assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
  assert f"steps scale: {float(SMALL_SCALE)}" in "".join(
      o.get("text", "") for o in cells[0].outputs)


@pytest.mark.parametrize("name", RUN_ALL.NOTEBOOKS)
def test_committed_notebook_holds_a_full_run(name):
  """Each code cell of the committed notebook has run, the first at steps scale 1, no errors."""
  nb = nbformat.read(os.path.join(REPO, "notebooks", f"{name}.ipynb"), as_version=4)
  cells = _code_cells(nb)
  assert all(c.execution_count for c in cells), "a cell has not been executed"
  assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
  assert "steps scale: 1.0" in "".join(o.get("text", "") for o in cells[0].outputs)
  figures = sum("image/png" in o.get("data", {}) for c in cells for o in c.outputs)
  assert figures >= 2, f"{name}.ipynb shows {figures} figures"
