r"""Per-class confusion of a translation run's label preservation: the shipped MNIST classifier
on G_ab(test A), against A's labels (rows: true class, columns: the class scored).

  python benchmarks/label_confusion.py --workdir=runs/cyclegan

The same translations and classifier as ``gan_jax.evaluate``'s ``label_preservation``, whose
value is the matrix's trace over its sum.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from gan_jax.evaluation import translation as evaluation  # noqa: E402
from gan_jax.training import experiment  # noqa: E402


def confusion(workdir: str) -> np.ndarray:
  exp, state, _ = experiment.load_run(workdir)
  data = exp.game.dataset
  labels = data.labels["test_a"]
  classifier = evaluation.target_classifier(data, log=lambda s: None)
  _, probs = classifier.outputs(exp.game.translate(state, data.test_a, "a2b"))
  classes = probs.shape[-1]
  matrix = np.zeros((classes, classes), np.int64)
  np.add.at(matrix, (labels, probs.argmax(-1)), 1)
  return matrix


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", required=True)
  matrix = confusion(parser.parse_args().workdir)
  print("label preservation", round(float(np.trace(matrix) / matrix.sum()), 4))
  print("true\\scored " + " ".join(f"{k:3d}" for k in range(len(matrix))) + "   kept")
  for k, row in enumerate(matrix):
    print(f"{k:11d} " + " ".join(f"{v:3d}" for v in row) + f"   {row[k] / row.sum():.2f}")


if __name__ == "__main__":
  main()
