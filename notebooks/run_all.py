r"""Executes the notebooks in place (outputs saved) and writes the README's figures.

  python notebooks/run_all.py                      # all four, full steps
  python notebooks/run_all.py theory quickstart    # some of them

Each runs top to bottom in a fresh kernel of this Python (ipykernel), from notebooks/, with
GAN_JAX_NOTEBOOK_FIGURES=docs/notebooks; a cell that raises stops it with the cell's error.
tests/test_notebooks.py runs the same ``execute`` with a small GAN_JAX_NOTEBOOK_STEPS_SCALE.
"""

from __future__ import annotations

import os
import sys
import time

import nbclient
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = ("theory", "instabilities", "quickstart", "translation", "gan_vs_vae")


def execute(name: str, *, timeout: int = 3600, env: dict | None = None):
  """Runs notebooks/<name>.ipynb in a new kernel with ``env`` added to the environment; returns
  the executed notebook. Raises nbclient's CellExecutionError when a cell fails."""
  nb = nbformat.read(os.path.join(HERE, f"{name}.ipynb"), as_version=4)
  saved = dict(os.environ)
  os.environ.update(env or {})
  try:  # The kernel inherits this process's environment when it starts.
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": HERE}})
    client.execute()
  finally:
    os.environ.clear()
    os.environ.update(saved)
  return nb


def main(names):
  figures = os.path.join(os.path.dirname(HERE), "docs", "notebooks")
  for name in names or NOTEBOOKS:
    t0 = time.perf_counter()
    nb = execute(name, env={"GAN_JAX_NOTEBOOK_FIGURES": figures,
                            "GAN_JAX_NOTEBOOK_STEPS_SCALE": "1"})
    nbformat.write(nb, os.path.join(HERE, f"{name}.ipynb"))
    print(f"{name}.ipynb: {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
