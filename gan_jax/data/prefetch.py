"""The background thread that assembles batches (and puts them on the devices) ahead of the
train step."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

PREFETCH_THREAD = "gan_jax-prefetch"


def prefetch(batches: Iterator, size: int = 2) -> Iterator:
  """Runs ``batches`` (host assembly and device_put) in a background thread, ``size`` ahead.

  Closing the returned generator (``contextlib.closing``; the trainer does so however its loop
  ends) stops the thread: a worker blocked on the full queue gives up within 50 ms, the source is
  closed in the worker, the thread is joined and the batches it held are dropped.
  """
  q: queue.Queue = queue.Queue(maxsize=size)
  stopping = threading.Event()
  sentinel = object()

  def put(item) -> bool:
    while not stopping.is_set():
      try:
        q.put(item, timeout=0.05)
        return True
      except queue.Full:
        continue
    return False

  def worker():
    try:
      for item in batches:
        if not put(item):
          return
      put(sentinel)
    except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
      put(e)
    finally:
      close = getattr(batches, "close", None)
      if close is not None:
        close()

  thread = threading.Thread(target=worker, name=PREFETCH_THREAD, daemon=True)
  thread.start()
  try:
    while True:
      item = q.get()
      if item is sentinel:
        return
      if isinstance(item, BaseException):
        raise item
      yield item
  finally:
    stopping.set()
    thread.join()
    with q.mutex:
      q.queue.clear()
