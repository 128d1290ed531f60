"""What the notebooks share: the step scale, their run folder, the CLIs run as subprocesses and
the run outputs read back (metrics.jsonl, summary.json, ablate's result.json).

  GAN_JAX_NOTEBOOK_STEPS_SCALE  multiplies every step count (default 1; CI uses a small one)
  GAN_JAX_NOTEBOOK_RUNS         folder the notebooks train in (default runs/notebooks)
  GAN_JAX_NOTEBOOK_FIGURES      folder for the README's figures ('' = none; run_all.py sets it)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS_SCALE = float(os.environ.get("GAN_JAX_NOTEBOOK_STEPS_SCALE", "1"))
RUNS = os.path.abspath(os.environ.get("GAN_JAX_NOTEBOOK_RUNS")
                       or os.path.join(REPO, "runs", "notebooks"))
FIGURES = os.environ.get("GAN_JAX_NOTEBOOK_FIGURES", "")


def scaled(steps: int, minimum: int = 1, multiple: int = 1) -> int:
  """``steps`` × STEPS_SCALE, at least ``minimum``, rounded up to a multiple of ``multiple``."""
  n = max(minimum, int(round(steps * STEPS_SCALE)))
  return -(-n // multiple) * multiple


def fresh_dir(*parts: str) -> str:
  """RUNS/parts..., emptied: every notebook run trains from scratch."""
  path = os.path.join(RUNS, *parts)
  shutil.rmtree(path, ignore_errors=True)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  return path


def short(path: str) -> str:
  """``path`` relative to the repository root, for printing."""
  return os.path.relpath(path, REPO)


def cli(module: str, *args: str, show: int = 6) -> str:
  """Runs ``python -m gan_jax.<module> args`` from the repository root and returns its stdout.

  Prints the command, the wall time and the last ``show`` lines of stdout; raises with the
  stderr's tail when the command fails (so the notebook cell fails).
  """
  command = [sys.executable, "-m", f"gan_jax.{module}", *args]
  print("$ python -m", f"gan_jax.{module}", " ".join(args))
  t0 = time.perf_counter()
  proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
  lines = proc.stdout.strip().splitlines()
  if proc.returncode != 0:
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
    raise RuntimeError(f"gan_jax.{module} exited {proc.returncode}:\n{tail}")
  if show and lines:
    print("\n".join(["  ..."] * (len(lines) > show) + lines[-show:]))
  print(f"  ({time.perf_counter() - t0:.1f} s)")
  return proc.stdout


def read_metrics(workdir: str) -> tuple[list[dict], list[dict]]:
  """(training records, evaluation records) of a run's metrics.jsonl, in step order."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return ([r for r in records if not r.get("eval")], [r for r in records if r.get("eval")])


def read_json(*parts: str) -> dict:
  with open(os.path.join(*parts)) as f:
    return json.load(f)


def series(records: list[dict], key: str):
  """(steps, values) of ``key`` over the records that log it."""
  import numpy as np

  kept = [r for r in records if key in r]
  return np.array([r["step"] for r in kept]), np.array([float(r[key]) for r in kept])


def save_figure(fig, name: str) -> None:
  """Writes ``fig`` to FIGURES/name when FIGURES is set (the README's copy)."""
  if FIGURES:
    os.makedirs(FIGURES, exist_ok=True)
    fig.savefig(os.path.join(FIGURES, name), dpi=110, bbox_inches="tight")
