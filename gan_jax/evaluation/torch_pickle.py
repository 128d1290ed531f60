"""A pickle reader that only reads: torch's tensor pickles into inert records (``torch_reader``).

The pickle is never handed to ``pickle``: ``pickletools.genops`` walks its opcodes and a small
stack machine interprets an allow-list of them. Globals become inert ``_Global`` records; the
only calls it performs are its own (a dict for ``collections.OrderedDict``, a ``_Tensor`` record
for ``torch._utils._rebuild_tensor_v2``, a list copy for TorchScript's ``build_intlist``, an
``_Object`` record for a TorchScript class with no arguments). BUILD only fills a fresh
``_Object``'s attributes or sets a dict's torch metadata; on anything else (a storage, a global,
a tensor) it is refused. Every storage is claimed once with one dtype and size (a second,
different claim is an error). Any refusal or malformation is one ``ConfigError`` line
(``UnsafeCheckpointError`` for what a plain tensor file never holds).
"""

from __future__ import annotations

import io
import pickletools
import re
import struct
from typing import NamedTuple

import ml_dtypes
import numpy as np

from gan_jax.errors import ConfigError

_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
}
MAX_PICKLE_BYTES = 64 << 20  # a state dict's pickle is kilobytes; the tensors live elsewhere
MAX_OPCODES = 2_000_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SCRIPT_MODULE = re.compile(r"__torch__(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")

# Opcodes whose argument is pushed as it is.
_PUSH_ARG = {"BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT", "BINUNICODE",
             "SHORT_BINUNICODE", "BINUNICODE8", "SHORT_BINBYTES", "BINBYTES", "SHORT_BINSTRING",
             "BINSTRING"}
_PUSH_CONST = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_MEMO_PUT = {"BINPUT", "LONG_BINPUT", "MEMOIZE"}
_MEMO_GET = {"BINGET", "LONG_BINGET"}


class UnsafeCheckpointError(ConfigError):
  """A checkpoint whose pickle asks for more than rebuilding tensors (a global, a call)."""


class _Mark:
  """The MARK opcode's stack sentinel."""


_MARK = _Mark()


class _Global(NamedTuple):
  """A global the pickle named, as its two strings: nothing is imported or called."""

  module: str
  name: str


class _Storage(NamedTuple):
  """A storage claim: its key in the file, element dtype (by name) and element count."""

  key: str
  dtype: str
  numel: int


class _Tensor(NamedTuple):
  """A view of a storage: ``storage[offset + Σ i_k stride_k]`` over ``shape``."""

  storage: _Storage
  offset: int
  shape: tuple
  stride: tuple


class _Object:
  """A TorchScript object: its class (module, name) and attributes, set once by BUILD."""

  __slots__ = ("cls", "attrs")

  def __init__(self, cls: _Global):
    self.cls, self.attrs = cls, None


def numpy_dtype(name: str) -> np.dtype:
  return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


class _Machine:
  """Interprets one pickle's opcodes into plain containers and the records above."""

  def __init__(self, where: str, *, script: bool, storages: dict):
    self.where, self.script, self.storages = where, script, storages
    self.stack: list = []
    self.marks: list[int] = []
    self.memo: dict = {}

  def refuse(self, what: str):
    raise UnsafeCheckpointError(f"refusing to load {self.where}: {what}, which a tensor file "
                                "never needs (such a file may run code)")

  def fail(self, what: str):
    raise ConfigError(f"{self.where}: malformed pickle ({what})")

  def pop(self):
    if not self.stack or self.stack[-1] is _MARK:
      self.fail("stack underflow")
    return self.stack.pop()

  def pop_mark(self) -> list:
    if not self.marks:
      self.fail("no MARK")
    start = self.marks.pop()
    items = self.stack[start:]
    if any(item is _MARK for item in items):
      self.fail("unbalanced MARK")
    del self.stack[start - 1:]  # the items and the sentinel under them
    return items

  def run(self, stream):
    """The object the pickle in ``stream`` (from its position to its STOP) describes."""
    for count, (op, arg, _) in enumerate(pickletools.genops(stream)):
      if count > MAX_OPCODES:
        self.fail(f"more than {MAX_OPCODES} opcodes")
      name = op.name
      if name == "STOP":
        if len(self.stack) != 1 or self.marks:
          self.fail(f"STOP with a stack of {len(self.stack)}")
        return self.stack[0]
      self.step(name, arg)
    self.fail("no STOP")

  def step(self, name: str, arg):  # noqa: C901 - one branch per opcode reads best
    push = self.stack.append
    if name in _PUSH_ARG:
      push(arg)
    elif name in _PUSH_CONST:
      push(_PUSH_CONST[name])
    elif name in ("PROTO", "FRAME"):
      pass
    elif name == "MARK":
      push(_MARK)
      self.marks.append(len(self.stack))
    elif name in _MEMO_PUT:
      if not self.stack:
        self.fail("PUT on an empty stack")
      self.memo[len(self.memo) if name == "MEMOIZE" else arg] = self.stack[-1]
    elif name in _MEMO_GET:
      if arg not in self.memo:
        self.fail(f"memo {arg} read before it is written")
      push(self.memo[arg])
    elif name == "EMPTY_TUPLE":
      push(())
    elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
      n = int(name[-1])
      items = [self.pop() for _ in range(n)][::-1]
      push(tuple(items))
    elif name == "TUPLE":
      push(tuple(self.pop_mark()))
    elif name == "EMPTY_LIST":
      push([])
    elif name == "EMPTY_DICT":
      push({})
    elif name in ("APPEND", "APPENDS"):
      items = [self.pop()] if name == "APPEND" else self.pop_mark()
      target = self.pop()
      if type(target) is not list:
        self.fail(f"{name} on a {type(target).__name__}")
      target.extend(items)
      push(target)
    elif name in ("SETITEM", "SETITEMS"):
      if name == "SETITEM":
        value, key = self.pop(), self.pop()
        items = [key, value]
      else:
        items = self.pop_mark()
      target = self.pop()
      if type(target) is not dict or len(items) % 2:
        self.fail(f"{name} on a {type(target).__name__}")
      for key, value in zip(items[::2], items[1::2], strict=True):
        if type(key) not in (str, int):
          self.fail(f"a {type(key).__name__} dict key")
        target[key] = value
      push(target)
    elif name in ("GLOBAL", "STACK_GLOBAL"):
      if name == "GLOBAL":
        module, _, attr = arg.partition(" ")
      else:
        attr, module = self.pop(), self.pop()
        if type(module) is not str or type(attr) is not str:
          self.fail("STACK_GLOBAL of non-strings")
      push(self.resolve_global(module, attr))
    elif name == "REDUCE":
      args, func = self.pop(), self.pop()
      push(self.call(func, args))
    elif name == "NEWOBJ":
      args, cls = self.pop(), self.pop()
      if not (type(cls) is _Global and cls.module.startswith("__torch__") and args == ()):
        self.refuse(f"its pickle constructs {_describe(cls)}")
      push(_Object(cls))
    elif name == "BUILD":
      state, target = self.pop(), self.pop()
      self.build(target, state)
      push(target)
    elif name == "BINPERSID":
      push(self.storage(self.pop()))
    else:
      self.refuse(f"its pickle uses the {name} opcode")

  def resolve_global(self, module: str, attr: str) -> _Global:
    if (module, attr) in (("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                          ("torch._utils", "_rebuild_parameter")):
      return _Global(module, attr)
    if module == "torch" and attr in _STORAGE_DTYPES:
      return _Global(module, attr)
    if self.script and (module, attr) == ("torch.jit._pickle", "build_intlist"):
      return _Global(module, attr)
    if self.script and _SCRIPT_MODULE.match(module) and _IDENTIFIER.match(attr):
      return _Global(module, attr)
    self.refuse(f"its pickle names {module}.{attr}")

  def call(self, func, args):
    if type(func) is not _Global or type(args) is not tuple:
      self.refuse(f"its pickle calls {_describe(func)}")
    target = (func.module, func.name)
    if target == ("collections", "OrderedDict") and args == ():
      return {}
    if target == ("torch._utils", "_rebuild_tensor_v2") and 4 <= len(args) <= 7:
      storage, offset, shape, stride = args[:4]
      if (type(storage) is not _Storage or type(shape) is not tuple or type(stride) is not tuple
          or not all(type(v) is int for v in (offset, *shape, *stride))):
        self.fail("a tensor with a malformed view")
      if len(args) > 5 and not (type(args[5]) is dict and not args[5]):
        self.refuse("a tensor carries backward hooks")
      return _Tensor(storage, offset, shape, stride)
    if (target == ("torch.jit._pickle", "build_intlist") and len(args) == 1
        and type(args[0]) is list and all(type(v) is int for v in args[0])):
      return list(args[0])  # a TorchScript List[int] attribute
    if target == ("torch._utils", "_rebuild_parameter") and len(args) in (2, 3):
      if type(args[0]) is not _Tensor:
        self.fail("a parameter that is not a tensor")
      return args[0]
    self.refuse(f"its pickle calls {func.module}.{func.name} with {len(args)} argument(s)")

  def build(self, target, state):
    """BUILD: a fresh TorchScript object's attributes, or a state dict's ``_metadata``."""
    if type(target) is _Object and target.attrs is None and type(state) is dict:
      if not all(type(k) is str for k in state):
        self.fail("an object attribute that is not a string")
      target.attrs = state
      return
    if type(target) is dict and type(state) is dict and set(state) <= {"_metadata"}:
      return  # torch's per-module version numbers; unused
    self.refuse(f"its pickle's BUILD sets the state of {_describe(target)}")

  def storage(self, pid) -> _Storage:
    if type(pid) is not tuple or len(pid) not in (5, 6):
      self.refuse(f"a persistent id that is {_describe(pid)}, not a storage")
    kind, storage_type, key, _, numel = pid[:5]
    if type(kind) is bytes:
      kind = kind.decode("ascii", "replace")
    if not (kind == "storage" and type(storage_type) is _Global and storage_type.module == "torch"
            and storage_type.name in _STORAGE_DTYPES and type(key) in (str, int)
            and type(numel) is int and numel >= 0):
      self.refuse(f"a persistent id ({', '.join(map(_describe, pid))}) that is not a storage")
    if len(pid) == 6 and pid[5] is not None:
      self.fail("storage views (old torch) are not supported")
    claim = _Storage(str(key), _STORAGE_DTYPES[storage_type.name], numel)
    known = self.storages.setdefault(claim.key, claim)
    if known != claim:
      self.fail(f"storage {claim.key} claimed as {known.numel} {known.dtype} and as "
                f"{claim.numel} {claim.dtype}")
    return known


def _describe(x) -> str:
  if type(x) is _Global:
    return f"{x.module}.{x.name}"
  if type(x) is _Object:
    return f"a {x.cls.module}.{x.cls.name} object" + (" twice" if x.attrs is not None else "")
  if type(x) in (str, int, bool, float) or x is None:
    return repr(x)[:40]
  return f"a {type(x).__name__.lstrip('_')}"


def _unpickle(data, where: str, *, script: bool = False, storages: dict | None = None):
  """(object, storage claims) of one pickle; ``data`` is bytes or a stream at its start."""
  storages = {} if storages is None else storages
  stream = io.BytesIO(data) if isinstance(data, bytes) else data
  machine = _Machine(where, script=script, storages=storages)
  try:
    return machine.run(stream), storages
  except ConfigError:
    raise
  except (ValueError, TypeError, EOFError, KeyError, IndexError, UnicodeDecodeError,
          struct.error, RecursionError, OverflowError) as e:
    raise ConfigError(f"{where}: malformed pickle ({type(e).__name__}: "
                      f"{' '.join(str(e).split())[:100]})") from None


