"""Writing a backup file in the background, so the disk works while we encrypt.

The thread that makes a backup reads the database and seals chunks; a writer
thread writes the sealed chunks and a hasher thread then digests them (all
three release the GIL: hashing is the slowest of the three, so it gets a
thread of its own rather than holding up the writes), and a flusher thread
asks the disk to catch up every ``FLUSH_EVERY`` bytes, so the final ``fsync``
has little left to do instead of the whole file.  At most ``DEPTH`` chunk
buffers exist, so memory does not grow with the vault's size.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from types import TracebackType

#: Sealed chunks waiting for the writer thread, at most.
DEPTH = 8
#: Bytes written between two background flushes.
FLUSH_EVERY = 16 << 20

_datasync = getattr(os, "fdatasync", os.fsync)

_Item = tuple[bytes | bytearray, int, bool]


class BackgroundFileSink:
    """A ``backup_format.RecordSink`` writing to a file descriptor from a thread.

    ``sha256`` digests what was written (unless ``digest`` is false); it is
    complete once the sink is closed.  Without ``flush_every`` nothing is
    flushed in the background.  Use the sink as a context manager around
    everything written: leaving the block waits for every queued write, and
    leaving it normally then raises the first error a write or a flush met
    (a full disk, say).  The caller still owns the descriptor and still makes
    the final ``fsync``.
    """

    def __init__(
        self,
        fd: int,
        *,
        depth: int = DEPTH,
        flush_every: int | None = FLUSH_EVERY,
        digest: bool = True,
    ) -> None:
        self._fd = fd
        self._depth = depth
        #: Chunk buffers made so far (at most ``depth``).
        self.buffers = 0
        #: Background flushes done so far.
        self.flushes = 0
        self._flush_every = flush_every
        self._unflushed = 0
        self._digest = digest
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        # Bounded: ``put_bytes`` waits too, so memory stays at ~depth chunks.
        self._todo: queue.Queue[_Item | None] = queue.Queue(maxsize=depth)
        # Written records wait here for the hasher, in file order.
        self._written: queue.Queue[_Item | None] = queue.Queue(maxsize=depth)
        self._kick = threading.Event()
        self._stopping = False
        self._stopped = False
        self._error: BaseException | None = None
        self.sha256 = hashlib.sha256()
        self._writer = threading.Thread(
            target=self._write_loop, name="backup-writer", daemon=True
        )
        self._flusher = threading.Thread(
            target=self._flush_loop, name="backup-flusher", daemon=True
        )
        self._hasher = threading.Thread(
            target=self._hash_loop, name="backup-hasher", daemon=True
        )
        self._writer.start()
        self._hasher.start()
        self._flusher.start()

    # -- the making thread ------------------------------------------------------
    def take(self, size: int) -> bytearray:
        """A buffer for the next record; waits while ``depth`` are queued."""
        self._raise_error()
        try:
            buffer = self._free.get_nowait()
        except queue.Empty:
            if self.buffers < self._depth:
                self.buffers += 1
                return bytearray(size)
            buffer = self._free.get()
        if len(buffer) < size:
            buffer = bytearray(size)
        return buffer

    def put_record(self, buffer: bytearray, length: int) -> None:
        """Queue ``buffer[:length]``; the buffer comes back through ``take``."""
        self._raise_error()
        self._todo.put((buffer, length, True))

    def put_bytes(self, data: bytes) -> None:
        """Queue bytes that are not one of this sink's buffers."""
        self._raise_error()
        self._todo.put((data, len(data), False))

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait for the queued writes and stop the threads (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._todo.put(None)
        self._writer.join()
        self._hasher.join()
        self._stopping = True
        self._kick.set()
        self._flusher.join()

    def __enter__(self) -> BackgroundFileSink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if kind is None:
            self._raise_error()

    # -- the writer thread --------------------------------------------------------
    def _write_loop(self) -> None:
        while (item := self._todo.get()) is not None:
            data, length, _ = item
            if self._error is None:
                try:
                    self._write(memoryview(data)[:length])
                except BaseException as exc:  # handed to the making thread
                    self._error = exc
            self._written.put(item)
        self._written.put(None)

    def _write(self, view: memoryview) -> None:
        self._unflushed += len(view)
        while view:
            # os.write may write less than asked; a full disk raises OSError.
            view = view[os.write(self._fd, view) :]
        if self._flush_every is not None and self._unflushed >= self._flush_every:
            self._unflushed = 0
            self._kick.set()

    # -- the hasher thread ----------------------------------------------------------
    def _hash_loop(self) -> None:
        # A buffer goes back to the making thread only once it is both
        # written and digested.
        while (item := self._written.get()) is not None:
            data, length, pooled = item
            if self._digest and self._error is None:
                self.sha256.update(memoryview(data)[:length])
            if pooled:
                assert isinstance(data, bytearray)
                self._free.put(data)

    # -- the flusher thread ---------------------------------------------------------
    def _flush_loop(self) -> None:
        while True:
            self._kick.wait()
            self._kick.clear()
            if self._stopping:
                return
            try:
                _datasync(self._fd)
                self.flushes += 1
            except OSError as exc:
                if self._error is None:
                    self._error = exc
                return
