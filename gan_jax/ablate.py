r"""Ablation sweeps: trains every run of a sweep, evaluates each one, tabulates and plots them.

  python -m gan_jax.ablate --config=experiments/ablation_losses.py --workdir=runs/ablation

The config file returns a ConfigDict with two parts:
  base   an ordinary run config (what ``gan_jax.main`` takes);
  sweep  variants       name -> field overrides, nested like the run config, e.g.
                        ``sweep.variants.r1 = {'reg': {'r1_weight': 1.0}}`` ({} = the base);
         variant_names  the variants to run, in this order (empty: all, alphabetically);
         axes           field -> tuple of values, nested like the run config, e.g.
                        ``sweep.axes.seed = (0, 1, 2)``, ``sweep.axes.model.spectral_norm = (...)``.
The runs are variants × axis₁ × axis₂ × ... (no variants: the axes alone); a variant and an axis
may not set the same field. Everything can be overridden from the command line:
``--config.base.train.num_steps=500``, ``--config.sweep.axes.seed=0 --config.sweep.axes.seed=1``
(a tuple by repetition), ``--config.sweep.variant_names=none --config.sweep.variant_names=r1``.

Run ``<name>`` trains in ``WORKDIR/runs/<name>``, a normal run directory (``gan_jax.sample`` and
``gan_jax.evaluate`` work on it). Runs are trained one after another in this process (the same
jitted code, data and classifier are reused; the per-run overhead is a recompile of ~1 s), seed
outermost, so an interrupted sweep has seed 0 of every variant first. A run is finished when its
``result.json`` (written atomically after its evaluation) exists; rerunning the command skips the
finished runs and resumes an unfinished one from its checkpoint. A run whose losses become
non-finite is recorded as diverged (with the step) and the sweep goes on. SIGTERM or SIGINT
checkpoints the run in training and stops the sweep (exit status 0); rerunning continues it. A
failed write (disk full, ...) stops the sweep with exit status 1; a second sweep on a workdir
that a live one holds is refused (exit 2).

WORKDIR then receives ``results.csv`` and ``results.md`` (one row per run, and mean ± sample std
over seeds per variant), ``curves.png`` (training metrics over steps, mean over seeds with a
min–max band), ``grad_norms.png`` (G's gradient norms on a log axis) and ``samples.png`` (final
samples of each variant's first seed).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import itertools
import json
import math
import os
import re
import time
import traceback

import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from gan_jax import cli, configs
from gan_jax.errors import ConfigError
from gan_jax.training import preemption
from gan_jax.training import workdir as workdir_lib

FLAGS = flags.FLAGS

RUNS_DIR = "runs"
RESULT_FILE = "result.json"
SAMPLES_FILE = "final_samples.npz"
COMPILE_CACHE_DIR = "compile_cache"
SEED_FIELD = "seed"
# Training metrics drawn over steps, and G's gradient measures drawn on a log axis.
CURVE_METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
GRAD_METRICS = ("g_grad_norm", "g_logit_grad")
# Last-window training metrics copied into the table (prefixed 'train_').
FINAL_TRAIN_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "g_logit_grad")
# Evaluation outputs that are constant bookkeeping rather than results.
SKIPPED_EVAL_KEYS = ("num", "num_modes")


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


# ---- The runs of a sweep ---------------------------------------------------------------------


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


# ---- Results on disk ------------------------------------------------------------------------


def run_dir(workdir: str, name: str) -> str:
  return os.path.join(workdir, RUNS_DIR, name)


def _write_json_atomic(path: str, obj) -> None:
  with open(path + ".tmp", "w") as f:
    json.dump(obj, f, indent=2, allow_nan=True)
  os.replace(path + ".tmp", path)


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


def _diverged_step(error: Exception, directory: str) -> int | None:
  """The step a NonFiniteError names (``step N: ...``), else the last logged step."""
  step = getattr(error, "step", None)
  if step is None:
    match = re.match(r"step (\d+):", str(error))
    step = int(match.group(1)) if match else None
  if step is None:
    history, _ = load_history(directory)
    step = history[-1]["step"] if history else None
  return step


# ---- Training and evaluating one run ---------------------------------------------------------


def train_run(spec: RunSpec, directory: str) -> dict:
  """Trains (or resumes) one run, evaluates its final generator and writes its result.json.

  The trainer evaluates the final state itself (train.eval_at_end); a run that was already
  trained to the end (or has eval_at_end off) is evaluated here, from its last checkpoint.
  """
  from gan_jax.evaluation import evaluator as evaluation
  from gan_jax.evaluation import sampling
  from gan_jax.training import experiment
  from gan_jax.training import loop as train

  config = spec.config
  result = dict(name=spec.name, group=spec.group, seed=spec.seed, settings=spec.settings,
                num_steps=config.train.num_steps, status="ok", diverged_step=None, error="")
  t0 = time.perf_counter()
  summary = {}
  try:
    summary = train.train_and_evaluate(config, directory)
    result["final_step"] = int(summary["final_step"])
  except train.NonFiniteError as e:
    result.update(status="diverged", diverged_step=_diverged_step(e, directory),
                  error=" ".join(str(e).split()))
  history, _ = load_history(directory)
  result["train_metrics"] = _final_train_metrics(history, config.objective)
  result["eval"] = {}
  if result["status"] == "ok":
    exp, state, step = experiment.load_run(directory)
    scores = summary.get("eval")
    if scores is None:
      scores = evaluation.evaluate(exp, state, num=config.train.eval_num)
      _append_jsonl(os.path.join(directory, "metrics.jsonl"), {"step": step, "eval": True,
                                                                **scores})
    result["eval"] = {k: float(v) for k, v in scores.items()
                      if isinstance(v, int | float) and k not in SKIPPED_EVAL_KEYS}
    drawn = sampling.draw_samples(exp, state, 64 if exp.dataset.is_image else 1000, seed=0)
    np.savez(os.path.join(directory, SAMPLES_FILE),
             samples=drawn["images" if exp.dataset.is_image else "samples"])
  result["wall_s"] = time.perf_counter() - t0
  _write_json_atomic(os.path.join(directory, RESULT_FILE), result)
  return result


def _append_jsonl(path: str, record: dict) -> None:
  with open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


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


# ---- The sweep -------------------------------------------------------------------------------


def check_runs(runs: list[RunSpec], workdir: str) -> None:
  """Builds every run (config, data, models) and checks its workdir before anything trains."""
  from gan_jax.data import datasets as data
  from gan_jax.training import experiment, parallel
  from gan_jax.training import loop as train

  datasets = {}
  for spec in runs:
    config = spec.config
    num_devices = parallel.DataParallel(config.parallel).num_devices
    key = config.data.to_json()
    try:
      if key not in datasets:
        datasets[key] = data.load_dataset(config.data)
      experiment.build(config, num_devices=num_devices, dataset=datasets[key])
      train.check_workdir_config(config, run_dir(workdir, spec.name))
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


# ---- Tables ----------------------------------------------------------------------------------


def _columns(results: list[dict]) -> tuple[list[str], list[str], list[str]]:
  """(setting columns, evaluation metric columns, training metric columns), in first-seen order."""
  settings, evals, trains = [], [], []
  for r in results:
    for names, keys in ((settings, r["settings"]), (evals, r.get("eval", {})),
                        (trains, r.get("train_metrics", {}))):
      names.extend(k for k in keys if k not in names)
  return settings, evals, trains


def result_rows(results: list[dict]) -> list[dict]:
  """One flat dict per run: name, settings, status, diverged_step, wall_s, every metric."""
  settings, evals, trains = _columns(results)
  rows = []
  for r in results:
    row = {"name": r["name"]}
    row.update({k: r["settings"].get(k, "") for k in settings})
    row.update(status=r["status"], diverged_step=r.get("diverged_step"),
               wall_s=r.get("wall_s", float("nan")))
    row.update({k: r.get("eval", {}).get(k, float("nan")) for k in evals})
    row.update({f"train_{k}": r.get("train_metrics", {}).get(k, float("nan")) for k in trains})
    rows.append(row)
  return rows


def group_summary(results: list[dict]) -> list[dict]:
  """Per group (variant × non-seed axes): runs, diverged, and mean/std over seeds of each metric.

  The std is the sample std (ddof=1) over the seeds whose value is finite; 0 for a single seed.
  Failed and diverged runs count in ``runs`` but give no metric values.
  """
  rows = result_rows(results)
  settings, evals, trains = _columns(results)
  metric_cols = ["wall_s"] + evals + [f"train_{k}" for k in trains]
  groups = {}
  for r, row in zip(results, rows, strict=True):
    groups.setdefault(r["group"], []).append(row)
  out = []
  for group, members in groups.items():
    entry = {"group": group}
    entry.update({k: members[0][k] for k in settings if k != SEED_FIELD})
    entry["runs"] = len(members)
    entry["ok"] = sum(m["status"] == "ok" for m in members)
    entry["diverged"] = sum(m["status"] == "diverged" for m in members)
    for col in metric_cols:
      values = np.array([m[col] for m in members if m["status"] == "ok"], np.float64)
      values = values[np.isfinite(values)]
      entry[col] = (float(values.mean()) if len(values) else float("nan"),
                    float(values.std(ddof=1)) if len(values) > 1 else 0.0 if len(values)
                    else float("nan"))
    out.append(entry)
  return out


def _fmt(value) -> str:
  if isinstance(value, tuple):
    mean, std = value
    return "–" if math.isnan(mean) else f"{_fmt(mean)} ± {_fmt(std)}"
  if value is None or value == "":
    return ""
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, float):
    return "–" if math.isnan(value) else f"{value:.4g}"
  return str(value)


def _markdown_table(rows: list[dict]) -> str:
  if not rows:
    return "(no runs)\n"
  cols = list(rows[0])
  lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
  lines += ["| " + " | ".join(_fmt(row[c]) for c in cols) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def write_tables(results: list[dict], workdir: str, *, command: str = "") -> None:
  """results.csv (every column, one row per run) and results.md (runs, then per-group means)."""
  rows = result_rows(results)
  csv_path = os.path.join(workdir, "results.csv")
  with open(csv_path + ".tmp", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["name"])
    writer.writeheader()
    writer.writerows(rows)
  os.replace(csv_path + ".tmp", csv_path)
  summary = group_summary(results)
  md = io.StringIO()
  md.write("# Ablation results\n\n")
  if command:
    md.write(f"```\n{command}\n```\n\n")
  md.write("## Mean ± std over seeds\n\n")
  md.write("Sample std (ddof=1) over the seeds that finished; `ok`/`diverged` count runs. "
           "`train_*` are the last logged training window (`train_steps_per_s` the mean); "
           "`train_vanishing_gradient` is the fraction of seeds whose G logit gradient "
           "vanished (gan_jax.diagnostics).\n\n")
  md.write(_markdown_table(summary))
  md.write("\n## Runs\n\n")
  md.write(_markdown_table([{k: v for k, v in row.items() if not k.startswith("train_")
                             or k == "train_steps_per_s"} for row in rows]))
  diverged = [r for r in results if r["status"] != "ok"]
  if diverged:
    md.write("\n## Diverged or failed runs\n\n")
    md.writelines(f"- {r['name']}: {r['status']}: {r.get('error', '')}\n" for r in diverged)
  md.write("\nPlots: `curves.png` (training metrics), `grad_norms.png` (G's gradient norms), "
           "`samples.png` (final samples).\n")
  path = os.path.join(workdir, "results.md")
  with open(path + ".tmp", "w") as f:
    f.write(md.getvalue())
  os.replace(path + ".tmp", path)


# ---- Plots -----------------------------------------------------------------------------------


def _pyplot():
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def _group_series(histories: list[list[dict]], key: str):
  """(steps, mean, min, max) over the seeds that logged ``key`` at each step."""
  by_step = {}
  for history in histories:
    for record in history:
      if key in record and record[key] is not None and math.isfinite(float(record[key])):
        by_step.setdefault(record["step"], []).append(float(record[key]))
  steps = np.array(sorted(by_step))
  values = [np.array(by_step[s]) for s in steps]
  return (steps, np.array([v.mean() for v in values]), np.array([v.min() for v in values]),
          np.array([v.max() for v in values]))


def _grouped_histories(results: list[dict], workdir: str) -> dict:
  """group -> ([training histories], [evaluation histories]) of its runs, in sweep order."""
  out = {}
  for r in results:
    train_h, eval_h = load_history(run_dir(workdir, r["name"]))
    entry = out.setdefault(r["group"], ([], []))
    entry[0].append(train_h)
    entry[1].append(eval_h)
  return out


def _plot_metric_grid(histories: dict, keys: list[str], path: str, *, log_y: bool,
                      title: str, eval_metrics: bool = False) -> None:
  plt = _pyplot()
  ncols = min(len(keys), 3)
  nrows = -(-len(keys) // ncols)
  fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows), squeeze=False)
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  for ax, key in zip(axes.flat, keys, strict=False):
    for i, (group, (train_h, eval_h)) in enumerate(histories.items()):
      steps, mean, lo, hi = _group_series(eval_h if eval_metrics else train_h, key)
      if not len(steps):
        continue
      color = colors[i % len(colors)]
      ax.plot(steps, mean, color=color, label=group, lw=1.4, marker="o" if len(steps) < 4
              else None)
      ax.fill_between(steps, lo, hi, color=color, alpha=0.2, lw=0)
    ax.set_title(key)
    ax.set_xlabel("step")
    if log_y:
      ax.set_yscale("log")
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(keys):]:
    ax.set_visible(False)
  handles, labels = axes.flat[0].get_legend_handles_labels()
  if handles:
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
  fig.suptitle(title, fontsize=10)
  fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(labels) // 5), 1, 0.95))
  fig.savefig(path, dpi=90)
  plt.close(fig)


def plot_curves(results: list[dict], workdir: str) -> list[str]:
  """curves.png (training metrics over steps) and, when evaluated more than once per run,
  eval_curves.png; one line per group (mean over seeds), band = min–max over seeds."""
  histories = _grouped_histories(results, workdir)
  logged = {k for train_h, _ in histories.values() for h in train_h for r in h for k in r}
  keys = [k for k in CURVE_METRICS if k in logged]
  paths = []
  if keys:
    paths.append(os.path.join(workdir, "curves.png"))
    _plot_metric_grid(histories, keys, paths[-1], log_y=False,
                      title="Training metrics: mean over seeds, band = min–max")
  eval_keys = []
  for _, eval_h in histories.values():
    for h in eval_h:
      if len(h) > 1:
        eval_keys.extend(k for k, v in h[-1].items() if k not in eval_keys and k not in (
            "step", "eval", *SKIPPED_EVAL_KEYS) and isinstance(v, int | float))
  if eval_keys:
    paths.append(os.path.join(workdir, "eval_curves.png"))
    _plot_metric_grid(histories, eval_keys, paths[-1], log_y=False, eval_metrics=True,
                      title="Evaluation metrics over training: mean over seeds, band = min–max")
  return paths


def plot_grad_norms(results: list[dict], workdir: str) -> str:
  """grad_norms.png: ‖∇_θG ℓ_G‖ and mean |∂ℓ_G/∂D-output| over steps, log y, one line a group."""
  path = os.path.join(workdir, "grad_norms.png")
  _plot_metric_grid(_grouped_histories(results, workdir), list(GRAD_METRICS), path, log_y=True,
                    title="G's gradient: ‖∇θ ℓ_G‖ and mean |∂ℓ_G/∂a| at the fake outputs a "
                    "(mean over seeds, band = min–max)")
  return path


def plot_samples(results: list[dict], workdir: str) -> str:
  """samples.png: the final samples of each group's first finished seed, one panel a group."""
  from gan_jax.data import datasets as data
  from gan_jax.evaluation import sampling

  plt = _pyplot()
  firsts = {}
  for r in results:
    if r["group"] not in firsts or (firsts[r["group"]]["status"] != "ok" and r["status"] == "ok"):
      firsts[r["group"]] = r
  n = len(firsts)
  ncols = min(n, 5)
  nrows = -(-n // ncols)
  fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.4 * nrows), squeeze=False)
  real_cache = {}
  for ax, (group, r) in zip(axes.flat, firsts.items(), strict=False):
    directory = run_dir(workdir, r["name"])
    path = os.path.join(directory, SAMPLES_FILE)
    ax.set_title(f"{group}\n(seed {r['seed']})", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if r["status"] != "ok" or not os.path.isfile(path):
      at = f" at step {r['diverged_step']}" if r.get("diverged_step") is not None else ""
      ax.text(0.5, 0.5, f"{r['status']}{at}", ha="center", va="center", transform=ax.transAxes)
      continue
    with np.load(path) as f:
      fake = f["samples"]
    if fake.ndim == 4:  # images
      grid = sampling.image_grid(fake, 8)
      ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray")
      continue
    with open(os.path.join(directory, "config.json")) as f:
      data_name = json.load(f)["data"]["name"]
    if data_name not in real_cache:
      try:
        real_cache[data_name] = data.sample_mog(data_name, 1000, seed=0)[0]
      except ValueError:
        real_cache[data_name] = None
    real = real_cache[data_name]
    if real is not None:
      ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:blue", alpha=0.3)
      lim = float(np.abs(real).max()) + 1.0
      ax.set_xlim(-lim, lim)
      ax.set_ylim(-lim, lim)
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:red", alpha=0.5)
    ax.set_aspect("equal")
  for ax in list(axes.flat)[n:]:
    ax.set_visible(False)
  fig.suptitle("Final samples (red; real in blue)", fontsize=10)
  fig.tight_layout()
  out = os.path.join(workdir, "samples.png")
  fig.savefig(out, dpi=90)
  plt.close(fig)
  return out


def write_report(results: list[dict], workdir: str, *, command: str = "") -> list[str]:
  """Tables and plots of a finished sweep; returns the paths written."""
  write_tables(results, workdir, command=command)
  paths = [os.path.join(workdir, "results.csv"), os.path.join(workdir, "results.md")]
  paths += plot_curves(results, workdir)
  paths.append(plot_grad_norms(results, workdir))
  paths.append(plot_samples(results, workdir))
  return paths


# ---- Command line ----------------------------------------------------------------------------


def main(argv):
  cli.check_run_flags(argv, FLAGS, config_example="experiments/ablation_losses.py",
                      workdir_example="runs/ablation")
  t0 = time.perf_counter()
  enable_compile_cache(os.path.join(FLAGS.workdir, COMPILE_CACHE_DIR))
  with workdir_lib.WorkdirLock(FLAGS.workdir) as lock:  # taken by run_sweep, released here
    try:
      results = run_sweep(FLAGS.config, FLAGS.workdir, lock=lock)
    except ConfigError as e:
      cli.fail(str(e))
    except preemption.Preempted as e:
      print(f"{e.run_tag}: {e}; the sweep continues from there", flush=True)
      return
    except workdir_lib.WriteError as e:
      cli.fail(f"{e.run_tag}: {e}", status=1)
    command = "python -m gan_jax.ablate " + " ".join(
        a for a in _original_argv() if a.startswith("--"))
    for path in write_report(results, FLAGS.workdir, command=command):
      print(f"wrote {path}", flush=True)
  counts = {s: sum(r["status"] == s for r in results) for s in ("ok", "diverged", "failed")}
  print(f"sweep of {len(results)} runs: {counts['ok']} ok, {counts['diverged']} diverged, "
        f"{counts['failed']} failed; {time.perf_counter() - t0:.1f} s", flush=True)
  if counts["failed"]:
    raise SystemExit(1)


def enable_compile_cache(directory: str) -> None:
  """JAX's persistent compilation cache in ``directory`` (unless one is configured already):
  runs that differ only in seed compile the same programs, so all but the first load them."""
  import jax

  if jax.config.jax_compilation_cache_dir:
    return
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _original_argv() -> list[str]:
  import sys

  return sys.argv[1:]


def define_flags() -> None:
  """The command line's flags; defined only when run as a program, because ablation config files
  import this module (for ``ablation_config``) and absl flags may be defined only once."""
  flags.DEFINE_string("workdir", None,
                      "Directory of the sweep: runs/<name>/ plus tables and plots.")
  config_flags.DEFINE_config_file(
      "config", None, "An experiments/ablation_*.py file (base run config + sweep); fields can "
      "be overridden with --config.base.x.y=value or --config.sweep.axes.x=value.",
      lock_config=True)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
