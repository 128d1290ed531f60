"""Writes a shipped classifier (gan_jax/assets/<name>_classifier.npz) from the classifier cache
entry of dataset ``--dataset`` (the embedded MNIST, or Fashion-MNIST from Debian's
``dataset-fashion-mnist``): float32 params flattened as 'a/b/c' keys and the entry's meta
(fingerprint, test accuracy, ...) as JSON under '__meta__', the layout that
``classifier._load_shipped`` reads. Train the entry first with the command in
``gan_jax.evaluation.classifier``'s docstring, with the shipped file moved away (else it is used):

  python benchmarks/export_shipped_classifier.py --dataset=mnist|fashion_mnist [--out=PATH]
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
  parser.add_argument("--dataset", default="mnist", choices=classifier.SHIPPED_DATASETS)
  parser.add_argument("--out", default=None, help="default: classifier.shipped_path(dataset)")
  args = parser.parse_args()
  dataset = sources.load_dataset(ml_collections.ConfigDict({"name": args.dataset, "path": ""}))
  fingerprint = classifier.dataset_fingerprint(
      dataset, classifier.default_train_steps(len(dataset.train_x)))
  entry = classifier._entry_dir(files.cache_root(), dataset.name, fingerprint)
  with open(os.path.join(entry, classifier.META_FILE)) as f:  # written by training the classifier
    meta = json.load(f)
  if meta["fingerprint"] != fingerprint:
    raise SystemExit(f"{entry} was trained on other data (fingerprint {meta['fingerprint']})")
  params = ocp.StandardCheckpointer().restore(os.path.join(entry, meta.pop("params_dir")))
  flat = {"/".join(k): np.asarray(v, np.float32)
          for k, v in flax.traverse_util.flatten_dict(params).items()}
  np.savez_compressed(args.out or classifier.shipped_path(dataset.name), **flat,
                      **{"__meta__": np.asarray(json.dumps(meta))})


if __name__ == "__main__":
  main()
