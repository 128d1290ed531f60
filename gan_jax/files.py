"""Files that are whole or absent, and the cache directory: the writers every layer shares.

``append_line``, ``write_atomic`` and ``write_text_atomic`` leave a file as it was when a write
fails (disk full, I/O error); ``savez`` writes exactly the path it is given.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

CACHE_ENV = "GAN_JAX_CACHE"
DEFAULT_CACHE = "~/.cache/gan_jax"


def append_line(path: str, line: str) -> None:
  """Appends ``line + '\\n'``; on failure truncates the file back to its old size and raises."""
  data = memoryview((line + "\n").encode())
  with open(path, "ab", buffering=0) as f:  # unbuffered: no flush can fail inside the undo
    size = f.seek(0, os.SEEK_END)
    try:
      while data:
        data = data[f.write(data):]  # a short write (disk full) continues, then raises
    except BaseException:
      with contextlib.suppress(OSError):
        os.ftruncate(f.fileno(), size)
      raise


def write_atomic(path: str, write) -> None:
  """``write(tmp_path)`` then renames tmp_path to ``path``; on failure removes tmp_path.

  tmp_path is unique (mkstemp beside ``path``), so concurrent writers of one path never share
  it: the last rename wins and each file is whole.
  """
  base, ext = os.path.splitext(path)
  # The extension kept: PIL picks the format from it.
  fd, tmp = tempfile.mkstemp(prefix=os.path.basename(base) + ".", suffix=".tmp" + ext,
                             dir=os.path.dirname(os.path.abspath(path)))
  os.close(fd)
  umask = os.umask(0)
  os.umask(umask)
  try:
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 → what open() would have given
    write(tmp)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def write_text_atomic(path: str, text: str) -> None:
  """``write_atomic`` of a text file holding ``text``."""

  def write(tmp: str) -> None:
    with open(tmp, "w", newline="") as f:
      f.write(text)

  write_atomic(path, write)


def savez(path: str, **arrays) -> None:
  """``np.savez`` to exactly ``path`` (through a file object: no '.npz' appended)."""
  import numpy as np

  with open(path, "wb") as f:
    np.savez(f, **arrays)


def cache_root(cache_dir: str | None = None) -> str:
  """cache_dir, else $GAN_JAX_CACHE, else ~/.cache/gan_jax (absolute, user-expanded)."""
  root = cache_dir or os.environ.get(CACHE_ENV, DEFAULT_CACHE)
  return os.path.abspath(os.path.expanduser(root))
