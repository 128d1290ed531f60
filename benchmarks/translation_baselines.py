r"""The image-to-image tasks' untrained baselines and oracle/floor numbers on full test splits.

  python benchmarks/translation_baselines.py [--num=0] [mnist_sr mnist_edges digits2mnist]

Paired tasks (mnist_sr, mnist_edges): ``evaluate_paired`` with an oracle translate that returns
the true test targets, so each ``baseline_*`` key is the untrained baseline (bicubic / the input)
and each plain key the oracle's (fcd = fcd_floor exactly on the full split). Unpaired
(digits2mnist): ``evaluate_unpaired`` with identity translators, so label preservation and fcd
are the untranslated input's (the baseline) and the cycle errors 0; then with a hand-made
translator that only reframes each digit as MNIST frames its own (shrunk to ``inner`` x
``inner``, bicubic, and centred on black), for inner in REFRAME_SIZES, keyed
``reframed_<inner>``; and with MNIST's own normalisation (``mnist_normalised``: each digit's ink
bounding box scaled to fit 20x20 with its aspect ratio kept, then placed so that its centre of
mass sits at the centre of the 28x28 frame); and with CycleGAN's ``translation.reframe`` warp alone
(``reframe_warp``: ``models.translation.reframe_theta`` toward MNIST's mean ink frame, bilinear,
no generator). Prints one JSON line a task.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax.data import translation as data_lib  # noqa: E402
from gan_jax.evaluation import translation as evaluation  # noqa: E402
from gan_jax.games import cyclegan  # noqa: E402
from gan_jax.models import translation as nets  # noqa: E402


def oracle(targets: np.ndarray):
  """A translate that returns ``targets`` in order, chunk after chunk: the true targets of the
  test pairs ``evaluate_paired`` translates (one pass)."""
  position = [0]

  def translate(x):
    start = position[0]
    position[0] += len(x)
    return targets[start:start + len(x)]

  return translate


REFRAME_SIZES = (24, 20, 16)  # MNIST draws each digit in a 20x20 box of its 28x28 frame.


def reframe(inner: int):
  """A translate that shrinks (N, 28, 28, C) images to inner x inner and pads them back with -1."""

  def translate(x):
    small = evaluation.resize_to(x, (inner, inner, x.shape[-1]))
    lo = (x.shape[1] - inner) // 2
    hi = x.shape[1] - inner - lo
    return np.pad(small, ((0, 0), (lo, hi), (lo, hi), (0, 0)), constant_values=-1.0)

  return translate


def mnist_normalise(x, box: int = 20, ink: float = -0.5):
  """A translate that frames each (28, 28, C) image as MNIST frames its digits (LeCun et al.):
  the bounding box of pixels above ``ink`` resized (bicubic) to fit box x box with its aspect
  ratio kept, pasted into a -1 frame with its centre of mass (of x + 1) at the frame's centre."""
  x = np.asarray(x, np.float32)
  size = x.shape[1]
  out = np.full_like(x, -1.0)
  for i, image in enumerate(x):
    rows, cols = np.nonzero(image.max(-1) > ink)
    if not len(rows):
      continue
    crop = image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = box / max(crop.shape[:2])
    h, w = (max(1, round(n * scale)) for n in crop.shape[:2])
    small = evaluation.resize_to(crop[None], (h, w, x.shape[-1]))[0]
    mass = small.mean(-1) + 1
    ys, xs = np.indices((h, w))
    cy, cx = (float((mass * ys).sum() / mass.sum()), float((mass * xs).sum() / mass.sum()))
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - h))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - w))
    out[i, top:top + h, left:left + w] = small
  return out


def reframe_warp(target):
  """A translate that applies ``translation.reframe``'s warp toward ``target`` and nothing else."""

  def translate(x):
    x = jnp.asarray(x)
    return np.asarray(nets.affine_warp(x, nets.reframe_theta(x, jnp.asarray(target))))

  return translate


def run(name: str, num: int) -> dict:
  data = data_lib.load(ml_collections.ConfigDict({"name": name, "path": ""}))
  classifier = evaluation.target_classifier(data, log=lambda s: None)
  t0 = time.perf_counter()
  if data.paired:
    targets = data.test_b[evaluation.evaluation_indices(data, num)[1]]
    out = evaluation.evaluate_paired(oracle(targets), data, num=num, classifier=classifier)
  else:
    identity = lambda x: x
    out = evaluation.evaluate_unpaired(identity, identity, data, num=num, classifier=classifier)
    for inner in REFRAME_SIZES:
      scores = evaluation.evaluate_unpaired(reframe(inner), None, data, num=num,
                                            classifier=classifier)
      out[f"reframed_{inner}"] = {k: scores[k] for k in ("label_preservation", "fcd")}
    scores = evaluation.evaluate_unpaired(mnist_normalise, None, data, num=num,
                                          classifier=classifier)
    out["mnist_normalised"] = {k: scores[k] for k in ("label_preservation", "fcd")}
    frame_a, frame_b = cyclegan.domain_frame(data.train_a), cyclegan.domain_frame(data.train_b)
    warp = reframe_warp(frame_b)
    scores = evaluation.evaluate_unpaired(warp, None, data, num=num, classifier=classifier)
    out["reframe_warp"] = {k: scores[k] for k in ("label_preservation", "fcd")}
    out["reframe_warp"].update(frame_a=[round(v, 2) for v in frame_a],
                               frame_b=[round(v, 2) for v in frame_b])
    labels = data.labels["test_a"]
    kept = classifier.predict(warp(data.test_a)) == labels
    out["reframe_warp"]["kept_by_class"] = [round(float(kept[labels == k].mean()), 4)
                                            for k in range(classifier.num_classes)]
  out["seconds"] = round(time.perf_counter() - t0, 1)
  return {"task": name, **out}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--num", type=int, default=0, help="test examples (0: the whole split)")
  parser.add_argument("names", nargs="*", default=list(data_lib.NAMES))
  args = parser.parse_args()
  for name in args.names:
    print(json.dumps(run(name, args.num)), flush=True)


if __name__ == "__main__":
  main()
