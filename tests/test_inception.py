"""The FID Inception: the .pth reader, the network's parity with pytorch-fid, the metrics CLI.

No test needs torch, the real weights or the network. Random weights in pytorch-fid's key layout
are drawn from a numpy seed and written as a .pth with the standard library (tests/torch_pth.py).
``tests/data/inception_parity.npz`` holds pytorch-fid's pool3 features and IS logits of
``torch_pth.parity_images()`` on the same weights (seed 0); regenerate it with

  python -m tests.torch_pth --out=/tmp/inc
  /tmp/torchref/bin/python benchmarks/inception_reference.py features \
      --weights=/tmp/inc/weights.pth --images=/tmp/inc/images.npz \
      --out=tests/data/inception_parity.npz
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from gan_jax import configs
from gan_jax.data import datasets as data
from gan_jax.errors import ConfigError
from gan_jax.evaluation import fid, inception, torch_reader
from gan_jax.training import experiment
from tests import torch_pth
from tests.helpers import REPO, run_module

FIXTURE = os.path.join(REPO, "tests", "data", "inception_parity.npz")
# Measured max relative difference (max|Δ| / max|ref|): 6.2e-7 (BUILD_NOTES.md, issue 13).
PARITY_RTOL = 1e-4
OFFLINE = {"GAN_JAX_INCEPTION_URL": "http://127.0.0.1:9/unreachable.pth",
           "GAN_JAX_INCEPTION_WEIGHTS": ""}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
  path = str(tmp_path_factory.mktemp("inception") / "random.pth")
  torch_pth.save_state_dict(path, torch_pth.random_fid_state_dict(0))
  return path


@pytest.fixture(scope="module")
def extractor(weights):
  """The network on the random weights, two images per forward pass (one compile)."""
  return inception.load(weights, batch_size=2)


@pytest.fixture(scope="module")
def reference():
  return np.load(FIXTURE)


def _rel_diff(a, b) -> float:
  return float(np.abs(a - b).max() / np.abs(b).max())


def _one_line_error(proc, *needles):
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode == 2, proc.stderr
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
  for needle in needles:
    assert needle in lines[0], lines[0]
  return lines[0]


# --------------------------------------------------------------------------------------------
# Reading .pth files.


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_reader_returns_the_written_tensors(tmp_path, weights, legacy):
  expected = torch_pth.random_fid_state_dict(0)
  path = weights
  if legacy:
    path = str(tmp_path / "legacy.pth")
    torch_pth.save_state_dict(path, expected, legacy=True)
  loaded = inception.read_state_dict(path)
  assert list(loaded) == list(expected)
  for key, value in expected.items():
    assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value), key


def test_the_layout_is_pytorch_fids(reference):
  """Every key and shape of pytorch-fid's FIDInceptionV3 state dict (from torch) maps here."""
  layout = json.loads(str(reference["state_dict_layout"]))
  published = {k: tuple(v) for k, v in layout.items() if not k.endswith("num_batches_tracked")}
  assert published == inception.torch_state_dict_shapes()
  assert len(published) == 472


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_naming_os_system_is_refused(tmp_path, legacy):
  marker = tmp_path / "pwned"
  arrays = {"w": np.zeros(3, np.float32)}
  hostile = torch_pth.state_dict_pickle(arrays, legacy=legacy,
                                        extra_global=("os", "system", f"touch {marker}"))
  path = str(tmp_path / "hostile.pth")
  torch_pth.save_state_dict(path, arrays, legacy=legacy, data_pkl=hostile)
  with pytest.raises(inception.UnsafeCheckpointError, match=r"names os\.system") as err:
    inception.read_state_dict(path)
  assert "\n" not in str(err.value)
  assert not marker.exists()


def test_malformed_files_are_one_line_config_errors(tmp_path):
  short = str(tmp_path / "short.pth")  # the pickle claims 8 elements, the storage holds 4
  torch_pth.save_state_dict(short, {"w": np.zeros(4, np.float32)},
                            data_pkl=torch_pth.state_dict_pickle({"w": np.zeros(8, np.float32)}))
  garbage = tmp_path / "garbage.pth"
  garbage.write_bytes(b"not a checkpoint at all")
  for path, needle in ((short, "holds 16 bytes, not the 8 elements of float32"),
                       (str(garbage), "not a torch checkpoint")):
    with pytest.raises(ConfigError, match=needle) as err:
      inception.read_state_dict(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("offset,shape,stride", [(2, (3,), (1,)), (0, (10**9,), (0,)),
                                                  (0, (2.0,), (1,)), (0, (2,), (-1,))],
                         ids=["past_end", "broadcast", "float_size", "negative_stride"])
def test_a_view_outside_its_storage_is_refused(offset, shape, stride):
  """A hostile offset/size/stride must not make as_strided read (or allocate) beyond it."""
  storage = torch_reader._Storage("0", "float32", 4)
  arrays = {"0": np.arange(4, dtype=np.float32)}
  with pytest.raises(ConfigError, match="tensor w (reaches past|has a malformed view)"):
    torch_reader.materialise(torch_reader._Tensor(storage, offset, shape, stride), arrays,
                             "f.pth", "w")


def test_a_state_dict_of_another_network_is_refused():
  sd = torch_pth.random_fid_state_dict(0)
  del sd["Mixed_7c.branch_pool.conv.weight"]
  sd["extra.weight"] = np.zeros(3, np.float32)
  with pytest.raises(ConfigError, match="1 key.s. missing .'Mixed_7c.branch_pool.conv.weight"):
    inception.variables_from_state_dict(sd)
  sd = torch_pth.random_fid_state_dict(0)
  sd["fc.bias"] = np.zeros(1000, np.float32)
  with pytest.raises(ConfigError, match=r"fc.bias has shape \(1000,\), expected \(1008,\)"):
    inception.variables_from_state_dict(sd)


# --------------------------------------------------------------------------------------------
# The network.


def test_features_match_pytorch_fid_on_the_same_weights(weights, extractor, reference):
  """pool3 and IS logits of RGB (upsampled, downsampled) and greyscale images, as pytorch-fid."""
  with open(weights, "rb") as f:
    assert hashlib.sha256(f.read()).hexdigest() == str(reference["weights_sha256"]), (
        "the random weights differ from the fixture's: regenerate it (module docstring)")
  images = torch_pth.parity_images(0)
  assert torch_pth.images_sha256(images) == str(reference["images_sha256"])
  for group, x in images.items():
    pool3, logits = extractor.outputs(x)
    assert pool3.shape == (2, inception.FEATURE_DIM) and logits.shape == (2, inception.NUM_LOGITS)
    assert np.isfinite(pool3).all() and np.isfinite(logits).all()
    assert _rel_diff(pool3, reference[f"pool3/{group}"]) < PARITY_RTOL, group
    assert _rel_diff(logits, reference[f"logits/{group}"]) < PARITY_RTOL, group


def test_a_ragged_last_batch_is_padded(extractor, reference):
  """3 images at 2 per pass: the padded second pass returns the right third row."""
  x = torch_pth.parity_images(0)["32x32x3"]
  pool3 = extractor(np.concatenate([x, x[:1]]))
  assert pool3.shape == (3, inception.FEATURE_DIM)
  assert _rel_diff(pool3[:2], reference["pool3/32x32x3"]) < PARITY_RTOL
  np.testing.assert_allclose(pool3[2], pool3[0], rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="1 or 3"):
    extractor(np.zeros((2, 8, 8, 2), np.float32))


def test_preprocess_resizes_as_torch_bilinear():
  """Half-pixel centres, clamped edges: a 2-pixel ramp resized to 4 is [0, .25, .75, 1] in u."""
  x = np.array([-1.0, 1.0], np.float32).reshape(1, 1, 2, 1) * np.ones((1, 2, 1, 1), np.float32)
  out = np.asarray(inception.preprocess(x))
  assert out.shape == (1, inception.INPUT_SIZE, inception.INPUT_SIZE, 3)
  # F.interpolate(align_corners=False): src = (dst + 0.5) * 2/299 - 0.5, clamped at 0.
  src = np.clip((np.arange(299) + 0.5) * 2 / 299 - 0.5, 0, 1)
  np.testing.assert_allclose(out[0, 0, :, 0], 2 * src - 1, atol=1e-6)
  np.testing.assert_array_equal(out[..., 0], out[..., 2])  # greyscale repeated


# --------------------------------------------------------------------------------------------
# Metrics, runs and the command line.


def _images(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return np.clip(rng.uniform(-1, 1, (n, 16, 16, 3)) * 0.5 + shift, -1, 1).astype(np.float32)


def test_fid_cli_prints_the_metrics_and_saves_reusable_stats(tmp_path, weights, extractor):
  a, b = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
  np.savez(a, images=_images(6, 0))
  np.savez(b, images=_images(6, 1, shift=0.4))
  stats = str(tmp_path / "a_stats.npz")
  proc = run_module("gan_jax.fid", a, b, f"--inception_weights={weights}",
                    f"--save_stats={stats}", "--batch_size=2")
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert set(result) == {"fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision",
                         "recall", "density", "coverage", "n_a", "n_b"}
  assert result["n_a"] == result["n_b"] == 6
  # The same numbers in-process, from the features of the module's extractor.
  ref = fid.InceptionStats.of_images(extractor, np.load(a)["images"])
  gen = fid.InceptionStats.of_images(extractor, np.load(b)["images"])
  expected = fid.inception_metrics(ref, gen)
  for key in ("fid", "kid_mean", "is_mean", "precision", "coverage"):
    assert result[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-6), key
  assert result["fid"] > 0 and result["is_mean"] >= 1.0
  # The saved statistics replace A without loading the network (no weights given).
  proc = run_module("gan_jax.fid", stats, stats, **OFFLINE)
  same = json.loads(proc.stdout.strip().splitlines()[-1])
  assert abs(same["fid"]) < 1e-3 and same["precision"] == same["recall"] == 1.0


def test_fid_cli_without_weights_offline_says_where_to_put_them(tmp_path):
  a = str(tmp_path / "a.npz")
  np.savez(a, images=_images(6, 0))
  proc = run_module("gan_jax.fid", a, a, check=False, GAN_JAX_CACHE=str(tmp_path / "cache"),
                    **OFFLINE)
  expected = os.path.join(str(tmp_path / "cache"), "inception", inception.WEIGHTS_FILE)
  _one_line_error(proc, f"at {expected}", "--inception_weights", "$GAN_JAX_INCEPTION_WEIGHTS")
  assert not proc.stdout.strip()


@pytest.mark.parametrize("args,needles", [
    pytest.param(["--inception_weights=/nonexistent.pth"],
                 ["--inception_weights='/nonexistent.pth' does not exist"], id="weights"),
    pytest.param(["--inception_weights=HOSTILE"], ["refusing to load", "os.system"],
                 id="hostile"),
    pytest.param(["B=nope"], ["B='nope' is neither an .npz file nor a dataset"], id="source"),
    pytest.param(["B=uint8"], ["images must lie in [-1, 1]"], id="range"),
])
def test_fid_cli_bad_input_is_one_line(tmp_path, args, needles):
  a = str(tmp_path / "a.npz")
  np.savez(a, images=_images(6, 0))
  hostile = str(tmp_path / "hostile.pth")
  arrays = {"w": np.zeros(3, np.float32)}
  torch_pth.save_state_dict(hostile, arrays, data_pkl=torch_pth.state_dict_pickle(
      arrays, extra_global=("os", "system", "true")))
  uint8 = str(tmp_path / "u8.npz")
  np.savez(uint8, images=np.full((6, 8, 8, 3), 255.0, np.float32))
  b = a
  flags = []
  for arg in args:
    if arg.startswith("B="):
      b = {"nope": "nope", "uint8": uint8}[arg[2:]]
    else:
      flags.append(arg.replace("HOSTILE", hostile))
  proc = run_module("gan_jax.fid", a, b, *flags, check=False, **OFFLINE)
  _one_line_error(proc, *needles)


def test_a_run_is_evaluated_against_cached_reference_stats(tmp_path, extractor):
  c = configs.base_config()
  c.data.name = "digits"
  c.model.update(name="mlp", width=16, depth=1, z_dim=4)  # cheap to build and to compile
  exp = experiment.build(c, num_devices=1, dataset=data.load_dataset(c.data))
  kwargs = dict(num=6, cache_dir=str(tmp_path), feature_fn=extractor)
  first = fid.evaluate_run(exp, exp.init_state(), **kwargs)
  cached = os.listdir(os.path.join(str(tmp_path), "inception", "stats"))
  assert len(cached) == 1 and cached[0].startswith("digits-")
  assert fid.evaluate_run(exp, exp.init_state(), **kwargs) == first  # from the cache
  assert first["features"] == "inception" and np.isfinite(first["fid"]) and first["fid"] > 0


def test_training_with_inception_eval_and_no_weights_stops_before_training(tmp_path):
  workdir = str(tmp_path / "run")
  proc = run_module("gan_jax.main", "--config=experiments/tiny.py", f"--workdir={workdir}",
                    "--config.train.eval_features=inception", check=False,
                    GAN_JAX_CACHE=str(tmp_path / "cache"), **OFFLINE)
  _one_line_error(proc, "no FID Inception weights")
  assert not os.path.exists(workdir)
