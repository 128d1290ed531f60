"""Training and evaluating the runs of a sweep, one after another, resumably.

Run ``<name>`` trains in ``WORKDIR/runs/<name>``; it is finished when its ``result.json`` exists
(written atomically after its evaluation). A run whose losses become non-finite is recorded as
diverged, at the step its ``NonFiniteError`` names, and the sweep goes on.
"""

from __future__ import annotations

import json
import os
import time
import traceback

import numpy as np

from gan_jax import files
from gan_jax.errors import ConfigError, NonFiniteError
from gan_jax.sweeps.spec import RunSpec, expand_sweep
from gan_jax.training import preemption
from gan_jax.training import workdir as workdir_lib

RUNS_DIR = "runs"
RESULT_FILE = "result.json"
SAMPLES_FILE = "final_samples.npz"
# Last-window training metrics copied into the table (prefixed 'train_').
FINAL_TRAIN_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "g_logit_grad")
# Evaluation outputs that are constant bookkeeping rather than results.
SKIPPED_EVAL_KEYS = ("num", "num_modes")


def run_dir(workdir: str, name: str) -> str:
  return os.path.join(workdir, RUNS_DIR, name)


def load_result(directory: str) -> dict | None:
  path = os.path.join(directory, RESULT_FILE)
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def is_finished(result: dict | None, config) -> bool:
  """A result that needs no more training: diverged, or trained to ``train.num_steps``."""
  if result is None:
    return False
  return result["status"] == "diverged" or result.get("num_steps") == config.train.num_steps


def load_history(directory: str) -> tuple[list[dict], list[dict]]:
  """(training records, evaluation records) of a run's metrics.jsonl, one of each per step.

  Records of the same step are merged (e.g. a resumed run that logs a step again);
  a resumed run logs again the steps after its checkpoint, and the later values win.
  """
  path = os.path.join(directory, "metrics.jsonl")
  train, evals = {}, {}
  if os.path.isfile(path):
    with open(path) as f:
      for line in f:
        if line.strip():
          record = json.loads(line)
          (evals if record.get("eval") else train).setdefault(record["step"], {}).update(record)
  return [train[s] for s in sorted(train)], [evals[s] for s in sorted(evals)]


def _diverged_step(error, directory: str) -> int | None:
  """The step a NonFiniteError names, else (none named) the last logged step."""
  if error.step is not None:
    return error.step
  history, _ = load_history(directory)
  return history[-1]["step"] if history else None


def train_run(spec: RunSpec, directory: str) -> dict:
  """Trains (or resumes) one run, evaluates its final generator and writes its result.json.

  The trainer evaluates the final state itself (train.eval_at_end); a run that was already
  trained to the end (or has eval_at_end off) is evaluated here, from its last checkpoint.
  """
  from gan_jax.training import experiment, loop

  config = spec.config
  result = dict(name=spec.name, group=spec.group, seed=spec.seed, settings=spec.settings,
                num_steps=config.train.num_steps, status="ok", diverged_step=None, error="")
  t0 = time.perf_counter()
  summary = {}
  try:
    summary = loop.train_and_evaluate(config, directory)
    result["final_step"] = int(summary["final_step"])
  except NonFiniteError as e:
    result.update(status="diverged", diverged_step=_diverged_step(e, directory),
                  error=" ".join(str(e).split()))
  history, _ = load_history(directory)
  result["train_metrics"] = _final_train_metrics(history, config.objective)
  result["eval"] = {}
  if result["status"] == "ok":
    exp, state, step = experiment.load_run(directory)
    scores = summary.get("eval")
    if scores is None:
      scores = exp.game.evaluate(state, num=config.train.eval_num)
      files.append_line(os.path.join(directory, "metrics.jsonl"),
                              json.dumps({"step": step, "eval": True, **scores}))
    result["eval"] = {k: float(v) for k, v in scores.items()
                      if isinstance(v, int | float) and k not in SKIPPED_EVAL_KEYS}
    drawn = exp.game.samples(state, num=64 if exp.dataset.is_image else 1000, seed=0)
    np.savez(os.path.join(directory, SAMPLES_FILE),
             samples=drawn["images" if exp.dataset.is_image else "samples"])
  result["wall_s"] = time.perf_counter() - t0
  files.write_text_atomic(os.path.join(directory, RESULT_FILE),
                                json.dumps(result, indent=2, allow_nan=True))
  return result


def _final_train_metrics(history: list[dict], objective: str) -> dict:
  """Last logged training metrics, mean steps/s, and (logit objectives) whether G's gradient
  vanished at the end (gan_jax.diagnostics, over the whole metrics.jsonl of a resumed run)."""
  from gan_jax import losses
  from gan_jax.evaluation import diagnostics

  if not history:
    return {}
  out = {k: float(history[-1][k]) for k in FINAL_TRAIN_METRICS if k in history[-1]}
  out["steps_per_s"] = float(np.mean([r["steps_per_s"] for r in history if "steps_per_s" in r]))
  if losses.get(objective).output == "logit":  # d_fake is a probability
    out["vanishing_gradient"] = float(diagnostics.vanishing_gradient_flag(
        history, d_fake_key="d_fake_g"))
  return out


def check_runs(runs: list[RunSpec], workdir: str) -> None:
  """Builds every run (config, data, models) and checks its workdir before anything trains."""
  from gan_jax.data import sources
  from gan_jax.training import experiment, loop, parallel

  datasets = {}
  for spec in runs:
    config = spec.config
    num_devices = parallel.DataParallel(config.parallel).num_devices
    key = config.data.to_json()
    try:
      if key not in datasets:
        datasets[key] = sources.load_dataset(config.data)
      experiment.build(config, num_devices=num_devices, dataset=datasets[key])
      loop.check_workdir_config(config, run_dir(workdir, spec.name))
    except ConfigError as e:
      raise ConfigError(f"run {spec.name}: {e}") from None


def run_sweep(config, workdir: str, lock: workdir_lib.WorkdirLock | None = None) -> list[dict]:
  """Trains and evaluates every unfinished run; returns the results of all runs, in order.

  A run that fails with anything but non-finite losses is reported (status 'failed', no
  result.json, so the next invocation retries it) and the sweep goes on; a stop request
  (preemption.Preempted) and a failed write (workdir.WriteError) end the sweep. ``lock`` (the
  sweep workdir's) is taken once every run has been checked, before anything is written.
  """
  runs = expand_sweep(config)
  check_runs(runs, workdir)
  workdir_lib.check_usable(workdir)
  if lock is not None:
    lock.acquire()
  results = []
  for i, spec in enumerate(runs):
    directory = run_dir(workdir, spec.name)
    done = load_result(directory)
    tag = f"[{i + 1}/{len(runs)}] {spec.name}"
    if is_finished(done, spec.config):
      print(f"{tag}: skip (finished: {done['status']})", flush=True)
      results.append(done)
      continue
    print(f"{tag}: train {spec.settings}", flush=True)
    try:
      result = train_run(spec, directory)
    except (preemption.Preempted, workdir_lib.WriteError) as e:
      e.run_tag = tag
      raise
    except Exception as e:  # noqa: BLE001 - one broken run must not stop the sweep
      traceback.print_exc()
      message = " ".join(str(e).split()) or type(e).__name__
      print(f"{tag}: failed ({message})", flush=True)
      result = dict(name=spec.name, group=spec.group, seed=spec.seed, settings=spec.settings,
                    status="failed", diverged_step=None, error=message, eval={},
                    train_metrics={}, wall_s=float("nan"))
    else:
      extra = f" at step {result['diverged_step']}" if result["status"] == "diverged" else ""
      print(f"{tag}: {result['status']}{extra} in {result['wall_s']:.1f} s "
            f"{_short(result['eval'])}", flush=True)
    results.append(result)
  return results


def _short(scores: dict) -> str:
  return " ".join(f"{k}={v:.4g}" for k, v in list(scores.items())[:4])
