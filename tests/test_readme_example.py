"""The README's library example runs as written (so it cannot rot)."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re

import numpy as np
import pytest

from tests.helpers import REPO

MARKER = "<!-- readme-example -->"


def readme_example() -> str:
  """The Python block that follows MARKER in README.md."""
  with open(os.path.join(REPO, "README.md")) as f:
    text = f.read()
  assert MARKER in text, f"README.md has no {MARKER} block"
  match = re.search(r"```python\n(.*?)```", text[text.index(MARKER):], re.DOTALL)
  assert match, "no ```python block after the marker"
  return match.group(1)


@pytest.mark.slow
def test_the_readme_library_example_runs_and_trains():
  code = readme_example()
  namespace: dict = {"__name__": "readme_example"}
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, "README.md example", "exec"), namespace)
  lines = out.getvalue().splitlines()
  assert lines[0] == "0.9"  # the hinge loss the comment promises
  state, metrics = namespace["state"], namespace["metrics"]
  assert int(state.step) == 200
  assert math.isfinite(float(metrics["d_loss"])) and math.isfinite(float(metrics["g_loss"]))
  points = np.asarray(namespace["points"])
  assert points.shape == (1000, 2) and np.isfinite(points).all()
  # The printed mean distance of G's points to the circle it was trained on.
  distance = np.mean(np.abs(np.linalg.norm(points, axis=-1) - 1))
  assert np.isclose(float(lines[-1]), distance, rtol=1e-5)
