r"""Per-class confusion of a translation run's label preservation: the shipped MNIST classifier
on G_ab(test A), against A's labels (rows: true class, columns: the class scored).

  python benchmarks/label_confusion.py --workdir=runs/cyclegan

The same translations and classifier as ``gan_jax.evaluate``'s ``label_preservation``, whose
value is the matrix's trace over its sum. For a run with ``translation.spatial_transformer``, it
also prints each generator's warp θ (``models.translation.AffineLocaliser``), mean and standard
deviation over its domain's first 360 test images.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from gan_jax.evaluation import translation as evaluation  # noqa: E402
from gan_jax.models import translation as nets  # noqa: E402
from gan_jax.training import experiment  # noqa: E402


def confusion(exp, state) -> np.ndarray:
  data = exp.game.dataset
  labels = data.labels["test_a"]
  classifier = evaluation.target_classifier(data, log=lambda s: None)
  _, probs = classifier.outputs(exp.game.translate(state, data.test_a, "a2b"))
  classes = probs.shape[-1]
  matrix = np.zeros((classes, classes), np.int64)
  np.add.at(matrix, (labels, probs.argmax(-1)), 1)
  return matrix


def warps(exp, state, num: int = 360) -> dict:
  """{direction: (mean θ, std θ)} over the first ``num`` test images of its input domain."""
  data, size = exp.game.dataset, exp.game.dataset.shape_b[0]
  out = {}
  for direction, x in (("a2b", data.test_a[:num]), ("b2a", data.test_b[:num])):
    _, variables_of = exp.game.generator_for(direction)
    params = variables_of(state)["params"]["localiser"]
    theta = np.asarray(nets.AffineLocaliser().apply({"params": params},
                                                    nets.upsample_to(x, size)))
    out[direction] = theta.mean(0), theta.std(0)
  return out


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", required=True)
  exp, state, _ = experiment.load_run(parser.parse_args().workdir)
  matrix = confusion(exp, state)
  print("label preservation", round(float(np.trace(matrix) / matrix.sum()), 4))
  print("true\\scored " + " ".join(f"{k:3d}" for k in range(len(matrix))) + "   kept")
  for k, row in enumerate(matrix):
    print(f"{k:11d} " + " ".join(f"{v:3d}" for v in row) + f"   {row[k] / row.sum():.2f}")
  if exp.config.translation.spatial_transformer:
    for direction, (mean, std) in warps(exp, state).items():
      rows = lambda m, f: "[" + ", ".join(  # noqa: E731
          "[" + ", ".join(format(v, f) for v in r) + "]" for r in m) + "]"
      print(f"θ_{direction[0]}{direction[2]} mean {rows(mean, '.2f')} std {rows(std, '.3f')}")


if __name__ == "__main__":
  main()
