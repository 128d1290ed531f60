"""pytorch-fid's FID Inception as the reference for gan_jax.inception (run OUTSIDE gan_jax's venv).

Needs a separate virtualenv with torch, pytorch-fid and torchvision (as plain python files):

  python3 -m venv /tmp/torchref && . /tmp/torchref/bin/activate
  pip install torch==2.13.0 && pip install --no-deps pytorch-fid torch-fidelity torchvision==0.28.0
  pip install prdc scipy pillow numpy

Subcommands:
  features --weights=W.pth --images=I.npz --out=F.npz   pool3 + IS logits of every image group,
      the state dict's key layout and the inputs' sha256 (the parity fixture)
  resave --weights=W.pth --out=DIR                       torch.save of W in the zip and the
      legacy format, and its tensors as .npz (to check gan_jax's reader on torch's own files)
  bench --batch=200 --batches=2 --size=32                images/s of feature extraction
  metrics --features=F.npz                                torch-fidelity's IS / KID and prdc's
      precision/recall/density/coverage on given features

torchvision's C extension does not load with this CPU torch, so torchvision is registered as a
bare package (its python files only) before pytorch-fid's model file is imported.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import time
import types

import numpy as np


def _bare_torchvision():
  spec = importlib.util.find_spec("torchvision")
  package = types.ModuleType("torchvision")
  package.__path__ = list(spec.submodule_search_locations)
  package.__version__ = "0.28.0"
  sys.modules["torchvision"] = package
  # torchvision.models as a bare package too (its __init__ imports the detection models, which
  # need the C extension), with only the inception module that pytorch-fid subclasses.
  models = types.ModuleType("torchvision.models")
  models.__path__ = [os.path.join(package.__path__[0], "models")]
  sys.modules["torchvision.models"] = package.models = models
  models.inception = importlib.import_module("torchvision.models.inception")
  models.inception_v3 = models.inception.inception_v3


def fid_model(weights: str):
  """pytorch-fid's InceptionV3 (pool3, resize + normalise) on ``weights``, and its fc layer."""
  _bare_torchvision()
  import torch
  from pytorch_fid import inception as pf

  net = _random_fid_net(pf)
  net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
  # pytorch-fid's InceptionV3 wrapper takes its blocks from fid_inception_v3(); build it around
  # this network instead of the download (same blocks, same forward).
  pf.fid_inception_v3 = lambda: net
  model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
  return model, net.fc, net.state_dict()


def _features(model, fc, images: np.ndarray):
  """gan_jax's images (N, H, W, C) in [-1, 1] → pytorch-fid's input (N, 3, H, W) in [0, 1]."""
  import torch

  x = torch.from_numpy((images.transpose(0, 3, 1, 2) + 1.0) / 2.0).float()
  if x.shape[1] == 1:
    x = x.repeat(1, 3, 1, 1)
  with torch.no_grad():
    pool3 = model(x)[0].flatten(1)
    return pool3.numpy(), (pool3 @ fc.weight.T).numpy()


def _sha256(path):
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()


def _images_sha256(images) -> str:
  """As tests/torch_pth.py's images_sha256: name, shape and float32 bytes of sorted groups."""
  digest = hashlib.sha256()
  for name in sorted(images.files):
    a = np.ascontiguousarray(images[name], np.float32)
    digest.update(f"{name}{a.shape}".encode() + a.tobytes())
  return digest.hexdigest()


def cmd_features(args):
  import torch

  torch.set_num_threads(args.threads)
  model, fc, state = fid_model(args.weights)
  images = np.load(args.images)
  out = {"weights_sha256": np.array(_sha256(args.weights)),
         "images_sha256": np.array(_images_sha256(images)),
         "state_dict_layout": np.array(json.dumps(
             {k: list(v.shape) for k, v in state.items()}, separators=(",", ":")))}
  for group in images.files:
    out[f"pool3/{group}"], out[f"logits/{group}"] = _features(model, fc, images[group])
  np.savez_compressed(args.out, **out)
  print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


def cmd_resave(args):
  import torch

  state = torch.load(args.weights, map_location="cpu", weights_only=True)
  os.makedirs(args.out, exist_ok=True)
  torch.save(state, os.path.join(args.out, "zip.pth"))
  torch.save(state, os.path.join(args.out, "legacy.pth"), _use_new_zipfile_serialization=False)
  np.savez(os.path.join(args.out, "tensors.npz"), **{k: v.numpy() for k, v in state.items()})
  print(f"wrote {args.out}/zip.pth, legacy.pth, tensors.npz")


def cmd_bench(args):
  import torch

  torch.set_num_threads(args.threads)
  if args.weights:
    model, fc, _ = fid_model(args.weights)
  else:  # timing only: random init is as fast as any weights
    _bare_torchvision()
    from pytorch_fid import inception as pf
    pf.fid_inception_v3 = lambda: _random_fid_net(pf)
    model = pf.InceptionV3([3]).eval()
  x = torch.rand(args.batch, 3, args.size, args.size)
  with torch.no_grad():
    model(x[:2])  # warm-up
    times = []
    for _ in range(args.batches):
      t = time.perf_counter()
      model(x)
      times.append(time.perf_counter() - t)
  import resource

  print(json.dumps({"impl": "pytorch-fid", "torch": torch.__version__, "batch": args.batch,
                    "size": args.size, "threads": torch.get_num_threads(),
                    "peak_rss_gb": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                    "batch_s": [round(t, 2) for t in times],
                    "images_per_s": round(args.batch / float(np.median(times)), 2)}))


def _random_fid_net(pf):
  """fid_inception_v3() without its download: torchvision's net with the FID blocks."""
  net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
  net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
  net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
  net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
  net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
  net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
  net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
  net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
  net.Mixed_7b = pf.FIDInceptionE_1(1280)
  net.Mixed_7c = pf.FIDInceptionE_2(2048)
  return net


def cmd_metrics(args):
  """torch-fidelity's ISC/KID and prdc on the arrays real/fake/logits of --features."""
  import torch
  _bare_torchvision()
  from prdc import compute_prdc
  from torch_fidelity import metric_isc, metric_kid

  f = np.load(args.features)
  real, fake, logits = f["real"], f["fake"], f["logits"]
  isc = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=False)
  kid = metric_kid.kid_features_to_metric(
      torch.from_numpy(real), torch.from_numpy(fake), verbose=False,
      kid_subset_size=min(1000, len(real), len(fake)))
  out = {"is_mean": float(isc[metric_isc.KEY_METRIC_ISC_MEAN]),
         "is_std": float(isc[metric_isc.KEY_METRIC_ISC_STD]),
         "kid_mean": float(kid[metric_kid.KEY_METRIC_KID_MEAN]),
         "kid_std": float(kid[metric_kid.KEY_METRIC_KID_STD])}
  pr3, dc5 = compute_prdc(real, fake, nearest_k=3), compute_prdc(real, fake, nearest_k=5)
  out.update(precision=pr3["precision"], recall=pr3["recall"], density=dc5["density"],
             coverage=dc5["coverage"])
  print(json.dumps(out))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="cmd", required=True)
  p = sub.add_parser("features")
  p.add_argument("--weights", required=True)
  p.add_argument("--images", required=True)
  p.add_argument("--out", required=True)
  p.add_argument("--threads", type=int, default=2)
  p = sub.add_parser("resave")
  p.add_argument("--weights", required=True)
  p.add_argument("--out", required=True)
  p = sub.add_parser("bench")
  p.add_argument("--weights", default="")
  p.add_argument("--batch", type=int, default=200)
  p.add_argument("--batches", type=int, default=2)
  p.add_argument("--size", type=int, default=32)
  p.add_argument("--threads", type=int, default=2)
  p = sub.add_parser("metrics")
  p.add_argument("--features", required=True)
  args = parser.parse_args()
  {"features": cmd_features, "resave": cmd_resave, "bench": cmd_bench,
   "metrics": cmd_metrics}[args.cmd](args)


if __name__ == "__main__":
  main()
