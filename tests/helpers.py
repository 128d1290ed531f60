"""Test helpers: running the command-line tools in subprocesses with a CPU-only environment."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_env(num_devices: int = 1, **extra) -> dict:
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={num_devices}"
  env["PYTHONUNBUFFERED"] = "1"
  env.update({k: str(v) for k, v in extra.items()})
  return env


def run_module(module: str, *args, num_devices: int = 1, timeout: int = 300, check=True,
               **env_extra) -> subprocess.CompletedProcess:
  """``python -m module args`` from the repo root; returns the completed process."""
  proc = subprocess.run(
      [sys.executable, "-m", module, *args], cwd=REPO, env=cpu_env(num_devices, **env_extra),
      capture_output=True, text=True, timeout=timeout)
  if check and proc.returncode != 0:
    raise AssertionError(
        f"{module} {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
  return proc


def run_script(code: str, *, num_devices: int = 1, timeout: int = 300
               ) -> subprocess.CompletedProcess:
  proc = subprocess.run(
      [sys.executable, "-c", code], cwd=REPO, env=cpu_env(num_devices), capture_output=True,
      text=True, timeout=timeout)
  if proc.returncode != 0:
    raise AssertionError(f"script exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
  return proc


def load_config(path: str, arg: str | None = None):
  """``get_config(arg)`` of an experiments/*.py file, as config_flags would load it."""
  import importlib.util

  spec = importlib.util.spec_from_file_location("experiment_config", os.path.join(REPO, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg is not None else module.get_config()
