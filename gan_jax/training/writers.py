"""What a run writes besides checkpoints: metrics (JSON lines and TensorBoard scalars), the
end-of-run summary and sample pictures, by process 0 only. A failed write raises
``workdir.WriteError`` naming the step and the file."""

from __future__ import annotations

import json
import os

import numpy as np

from gan_jax import files
from gan_jax.evaluation import sampling
from gan_jax.training import workdir as workdir_lib

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
SAMPLES_DIR = "samples"


class RunWriter:
  """Metrics (JSON lines and TensorBoard scalars) and sample pictures; process 0 only."""

  def __init__(self, workdir: str, enabled: bool):
    self.workdir, self.enabled = workdir, enabled
    self._tb = None
    if enabled:
      os.makedirs(os.path.join(workdir, SAMPLES_DIR), exist_ok=True)
      from tensorboardX import SummaryWriter

      self._tb = SummaryWriter(os.path.join(workdir, "tb"))

  def scalars(self, step: int, values: dict, prefix: str = "") -> None:
    if not self.enabled:
      return
    try:
      files.append_line(os.path.join(self.workdir, METRICS_FILE),
                              json.dumps({"step": step, **values}))
    except OSError as e:
      raise workdir_lib.write_failed(step, METRICS_FILE, e) from e
    for k, v in values.items():
      if isinstance(v, int | float) and not isinstance(v, bool):
        self._tb.add_scalar(prefix + k, v, step)

  def summary(self, summary: dict) -> None:
    """The end-of-run summary (diagnostics and final evaluation) as workdir/summary.json."""
    if not self.enabled:
      return
    try:
      files.write_text_atomic(os.path.join(self.workdir, SUMMARY_FILE),
                                    json.dumps(summary, indent=1))
    except OSError as e:
      raise workdir_lib.write_failed(summary["final_step"], SUMMARY_FILE, e) from e
    print("summary: " + json.dumps(summary.get("diagnostics", {})), flush=True)

  def resume(self, start_step: int) -> list[dict]:
    """Drops the records past ``start_step`` from metrics.jsonl (the steps a crashed run logged
    after its last checkpoint, which this run trains again) and returns the kept training
    records, the history the run carries on with. Only the chief rewrites the file."""
    path = os.path.join(self.workdir, METRICS_FILE)
    if not os.path.isfile(path):
      return []
    kept, dropped = [], 0
    with open(path) as f:
      for line in f:
        try:
          record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the crash
          dropped += 1
          continue
        if int(record.get("step", 0)) <= start_step:
          kept.append(record)
        else:
          dropped += 1
    if dropped and self.enabled:
      files.write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))
      print(f"dropped {dropped} metrics records past step {start_step}", flush=True)
    return [r for r in kept if not r.get("eval")]

  def picture(self, step: int, picture: np.ndarray) -> None:
    if not self.enabled:
      return
    name = os.path.join(SAMPLES_DIR, f"step_{step:07d}.png")
    try:
      files.write_atomic(os.path.join(self.workdir, name),
                               lambda tmp: sampling.save_png(picture, tmp))
    except OSError as e:
      raise workdir_lib.write_failed(step, name, e) from e
    self._tb.add_image("samples", picture, step, dataformats="HWC")

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
