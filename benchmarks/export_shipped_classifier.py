"""Writes the embedded MNIST's shipped classifier (gan_jax/assets/mnist_classifier.npz) from the
classifier cache entry of the embedded MNIST: float32 params flattened as 'a/b/c' keys and the
entry's meta (fingerprint, test accuracy, ...) as JSON under '__meta__', the layout that
``classifier._load_shipped`` reads. Train the entry first with the command in
``gan_jax.evaluation.classifier``'s docstring, with the shipped file moved away (else it is used):

  python benchmarks/export_shipped_classifier.py [--out=gan_jax/assets/mnist_classifier.npz]
"""

from __future__ import annotations

import argparse
import json
import os

import flax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from gan_jax import files
from gan_jax.data import sources
from gan_jax.evaluation import classifier


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--out", default=classifier.SHIPPED)
  args = parser.parse_args()
  dataset = sources.load_dataset(ml_collections.ConfigDict({"name": "mnist", "path": ""}))
  fingerprint = classifier.dataset_fingerprint(
      dataset, classifier.default_train_steps(len(dataset.train_x)))
  entry = os.path.join(files.cache_root(), "classifier", f"mnist-{fingerprint[:16]}")
  with open(os.path.join(entry, classifier.META_FILE)) as f:  # written by training the classifier
    meta = json.load(f)
  params = ocp.StandardCheckpointer().restore(os.path.join(entry, meta.pop("params_dir")))
  flat = {"/".join(k): np.asarray(v, np.float32)
          for k, v in flax.traverse_util.flatten_dict(params).items()}
  np.savez_compressed(args.out, **flat, **{"__meta__": np.asarray(json.dumps(meta))})


if __name__ == "__main__":
  main()
