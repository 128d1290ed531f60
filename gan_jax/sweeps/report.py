"""The tables and plots of a finished sweep: results.csv, results.md, curves.png,
grad_norms.png (G's gradient norms, log axis) and samples.png (each group's first seed)."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np

from gan_jax import files
from gan_jax.sweeps.runner import SAMPLES_FILE, SKIPPED_EVAL_KEYS, load_history, run_dir
from gan_jax.sweeps.spec import SEED_FIELD

# Training metrics drawn over steps, and G's gradient measures drawn on a log axis.
CURVE_METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
GRAD_METRICS = ("g_grad_norm", "g_logit_grad")


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
  table = io.StringIO(newline="")
  writer = csv.DictWriter(table, fieldnames=list(rows[0]) if rows else ["name"])
  writer.writeheader()
  writer.writerows(rows)
  files.write_text_atomic(os.path.join(workdir, "results.csv"), table.getvalue())
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
  files.write_text_atomic(os.path.join(workdir, "results.md"), md.getvalue())


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
  from gan_jax.data import sources
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
        real_cache[data_name] = sources.sample_mog(data_name, 1000, seed=0)[0]
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
