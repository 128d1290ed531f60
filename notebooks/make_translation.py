r"""Writes notebooks/translation.ipynb (not executed) from the cells below.

  python notebooks/make_translation.py

The notebook trains the three image-to-image configs with ``gan_jax.main``, shows each task's
input | output | target grid (``gan_jax.sample --input=A.npz --out=B.npz``) and the metric table of
``gan_jax.evaluate`` beside the baselines and the issue's targets. As the other notebooks, it runs
every step through the CLIs, scaled by GAN_JAX_NOTEBOOK_STEPS_SCALE; ``python notebooks/run_all.py
translation`` executes it in place once ``translation`` is in run_all.NOTEBOOKS. After that the
.ipynb is the source (edit it in Jupyter); this generator only wrote its first version.
"""

from __future__ import annotations

import os

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))

INTRO = r"""# Image-to-image translation: Pix2Pix and CycleGAN on digits

Three tasks, all offline (`gan_jax.data.translation`), each with a held-out test split:

| task | game | input (domain A) | target (domain B) | pairing |
|---|---|---|---|---|
| `mnist_sr` | Pix2Pix | MNIST averaged over 4×4 blocks (7×7) | the 28×28 digit | paired |
| `mnist_edges` | Pix2Pix | the digit's outline (morphological gradient) | the digit | paired |
| `digits2mnist` | CycleGAN | scikit-learn's 8×8 digits resized to 28×28 | MNIST | unpaired |

```bash
python -m gan_jax.main --config=experiments/pix2pix_mnist_sr.py --workdir=runs/pix2pix_sr
python -m gan_jax.main --config=experiments/pix2pix_mnist_edges.py --workdir=runs/pix2pix_edges
python -m gan_jax.main --config=experiments/cyclegan_digits2mnist.py --workdir=runs/cyclegan
python -m gan_jax.sample --workdir=runs/pix2pix_sr --input=A.npz --out=B.npz   # [--direction=b2a]
python -m gan_jax.evaluate --workdir=runs/pix2pix_sr
```

This notebook runs those commands (the step counts scaled by `GAN_JAX_NOTEBOOK_STEPS_SCALE`, default
1) and reads back what they write. The metrics are measured by the MNIST classifier shipped in
`gan_jax/assets`; `fcd` is compared with its real-vs-real floor `fcd_floor` at the same sample
count."""

SETUP = r"""import importlib.util
import json
import os

import matplotlib.pyplot as plt
import ml_collections
import numpy as np
from nbutil import (
  REPO,
  STEPS_SCALE,
  cli,
  fresh_dir,
  read_metrics,
  save_figure,
  scaled,
  series,
  short,
)

from gan_jax.data import translation

TASKS = {"mnist_sr": "pix2pix_mnist_sr", "mnist_edges": "pix2pix_mnist_edges",
         "digits2mnist": "cyclegan_digits2mnist"}
data = {task: translation.load(ml_collections.ConfigDict({"name": task, "path": ""}))
        for task in TASKS}
print("steps scale:", STEPS_SCALE)"""

DATA_MD = r"""## The data

One test example of each digit per task: the input row above the target row. `mnist_sr`'s 7×7
inputs are shown enlarged by pixel replication. For `digits2mnist` the two rows are *not* pairs:
the target row holds MNIST test digits of the same classes, and training never sees a label."""

DATA = r"""def one_per_class(labels):
  return np.array([np.flatnonzero(labels == k)[0] for k in range(10)])


def enlarge(x, size=28):
  # Pixel replication of (N, h, w, C) images to (N, size, size).
  k = size // x.shape[1]
  return np.repeat(np.repeat(x[..., 0], k, axis=1), k, axis=2)


def row(images):
  return np.concatenate(list(enlarge(images)), axis=1)


columns = {task: one_per_class(d.labels["test_a"]) for task, d in data.items()}
fig, axes = plt.subplots(len(TASKS), 1, figsize=(9, 2.2 * len(TASKS)))
for ax, (task, d) in zip(axes, data.items(), strict=True):
  targets = d.test_b[columns[task] if d.paired else one_per_class(d.labels["test_b"])]
  ax.imshow(np.concatenate([row(d.test_a[columns[task]]), row(targets)]), cmap="gray",
            vmin=-1, vmax=1)
  ax.set(xticks=[], yticks=[14, 42], yticklabels=["input", "target"],
         title=f"{task}: {len(d.train_a)} / {len(d.train_b)} training images of A / B, "
               f"{'paired' if d.paired else 'unpaired'}")
fig.tight_layout()
plt.show()"""

TRAIN_MD = r"""## Train

Each config trains with its own recipe and step count (scaled here); the end-of-run evaluation uses
`EVAL_NUM` test examples (the whole test split at scale 1)."""

TRAIN = r"""def config_of(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "experiments",
                                                                   f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


EVAL_NUM = scaled(10_000, minimum=200)
workdirs, steps = {}, {}
for task, name in TASKS.items():
  steps[task] = scaled(config_of(name).train.num_steps, minimum=4, multiple=2)
  workdirs[task] = fresh_dir("translation", name)
  cli("main", f"--config=experiments/{name}.py", f"--workdir={short(workdirs[task])}",
      f"--config.train.num_steps={steps[task]}",
      f"--config.train.log_every={max(1, steps[task] // 20)}",
      f"--config.train.sample_every={steps[task]}",
      f"--config.train.checkpoint_every={steps[task]}",
      f"--config.train.eval_num={EVAL_NUM}", show=3)"""

GRIDS_MD = r"""## Translations: input | output | target

`gan_jax.sample --input=A.npz --out=B.npz` translates the `images` of an .npz with the final
generator. For CycleGAN the third row is the cycle reconstruction F(G(a)), from
`--direction=b2a` on G's output (there is no target)."""

GRIDS = r"""def translate(task, images, direction="a2b"):
  stem = os.path.join(workdirs[task], f"grid_{direction}")
  np.savez(f"{stem}_in.npz", images=images)
  cli("sample", f"--workdir={short(workdirs[task])}", f"--input={short(stem)}_in.npz",
      f"--out={short(stem)}_out.npz", f"--direction={direction}", show=1)
  with np.load(f"{stem}_out.npz") as f:
    return f["images"]


fig, axes = plt.subplots(len(TASKS), 1, figsize=(9, 3.1 * len(TASKS)))
for ax, (task, d) in zip(axes, data.items(), strict=True):
  inputs = d.test_a[columns[task]]
  outputs = translate(task, inputs)
  if d.paired:
    third, label = d.test_b[columns[task]], "target"
  else:
    third, label = translate(task, outputs, "b2a"), "F(G(a))"
  ax.imshow(np.concatenate([row(inputs), row(outputs), row(third)]), cmap="gray", vmin=-1,
            vmax=1)
  ax.set(xticks=[], yticks=[14, 42, 70], yticklabels=["input", "output", label],
         title=f"{task} ({TASKS[task]}, step {steps[task]})")
fig.tight_layout()
save_figure(fig, "translation_grids.png")
plt.show()"""

METRICS_MD = r"""## Metrics

`gan_jax.evaluate` prints the game's metrics as JSON: for the paired tasks L1, PSNR, SSIM, the
classifier's accuracy on the outputs and fcd, each beside its untrained baseline (bicubic
up-sampling of the input for `mnist_sr`, the input itself for `mnist_edges`); for `digits2mnist`
label preservation (accuracy on G(test digits) scored with the digits' labels), fcd against MNIST
test and the cycle errors, beside the untranslated input. The targets are issue 26's."""

METRICS = r"""results = {}
for task in TASKS:
  results[task] = json.loads(cli("evaluate", f"--workdir={short(workdirs[task])}",
                                 f"--num={EVAL_NUM}", show=0).strip().splitlines()[-1])


def target(task, key, r):
  # The issue's bar for ``key`` on ``task`` as (text, met), or None.
  if key in ("accuracy", "label_preservation"):
    bar = 0.97 if key == "accuracy" else 0.95
    return f">= {bar}", r[key] >= bar
  if key == "psnr" and task == "mnist_sr":
    bar = r["baseline_psnr"] + 4
    return f">= {bar:.2f}", r[key] >= bar
  if key == "fcd":
    bar = (6 if task == "digits2mnist" else 4) * r["fcd_floor"]
    return f"<= {bar:.3g}", r[key] <= bar
  return None


print(f"{'task':13} {'metric':19} {'model':>9} {'baseline':>9}  target")
for task, r in results.items():
  keys = ("label_preservation", "fcd", "cycle_a", "cycle_b") if task == "digits2mnist" else (
      "l1", "psnr", "ssim", "accuracy", "fcd")
  for key in keys:
    if key not in r:
      continue
    base = r.get(f"baseline_{key}")
    bar = target(task, key, r)
    print(f"{task:13} {key:19} {r[key]:9.4g} {'' if base is None else f'{base:9.4g}':>9}  "
          + ("" if bar is None else f"{bar[0]} ({'met' if bar[1] else 'not met'})"))
  print(f"{task:13} {'fcd_floor':19} {r.get('fcd_floor', float('nan')):9.4g}")"""

LOSSES_MD = r"""## Training curves

D's and G's losses over each run (for Pix2Pix, G's loss is the cGAN term + λ·L1; for CycleGAN the
sum over both directions with the cycle and identity terms)."""

LOSSES = r"""fig, axes = plt.subplots(1, len(TASKS), figsize=(4.2 * len(TASKS), 3.2))
for ax, task in zip(axes, TASKS, strict=True):
  records, _ = read_metrics(workdirs[task])
  for key in ("d_loss", "g_loss"):
    ax.plot(*series(records, key), label=key)
  ax.set(xlabel="train step", title=task)
  ax.legend(fontsize=8)
fig.tight_layout()
plt.show()"""

CELLS = (("markdown", INTRO), ("code", SETUP), ("markdown", DATA_MD), ("code", DATA),
         ("markdown", TRAIN_MD), ("code", TRAIN), ("markdown", GRIDS_MD), ("code", GRIDS),
         ("markdown", METRICS_MD), ("code", METRICS), ("markdown", LOSSES_MD), ("code", LOSSES))


def build() -> nbformat.NotebookNode:
  new = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
  nb = nbformat.v4.new_notebook(cells=[new[kind](source) for kind, source in CELLS])
  nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                               "name": "python3"}
  return nb


def main():
  path = os.path.join(HERE, "translation.ipynb")
  nbformat.write(build(), path)
  print(f"wrote {path} ({len(CELLS)} cells, not executed)")


if __name__ == "__main__":
  main()
