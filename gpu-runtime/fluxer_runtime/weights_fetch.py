"""A pull's downloads (weights_pull.py): each file in parallel ranged GETs into `<file>.partial`, hashed
in file order as its ranges land, fsynced and renamed into place only when its sha256 matches.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from .aws import Store, error_code, is_permanent
from .logs import log
from .weights_manifest import PARTIAL, TRANSIENT, PullStopped, WeightFile, WeightsError

READ_CHUNK = 1024**2  # bytes per read from a response and per pwrite: memory is concurrency x this
HASH_CHUNK = 8 * 1024**2
RANGE_ATTEMPTS = 5


class _ShortRange(Exception):
    """A response that ended before the bytes it promised: retried like a dropped connection."""


class FileTask:
    """One file being pulled: its ranges land in any order; the hash reads them back in order."""

    def __init__(self, file: WeightFile, key: str, final: Path, part_bytes: int) -> None:
        self.file = file
        self.key = key
        self.final = final
        self.partial = final.with_name(final.name + PARTIAL)
        self.part_bytes = part_bytes
        self.ranges = max(1, -(-file.size // part_bytes))
        self.landed = [False] * self.ranges
        self.hashed = 0
        self.hasher = hashlib.sha256()
        self.finishing = False
        self.fd: int | None = None
        self.lock = threading.Lock()
        self.hash_lock = threading.Lock()

    def bounds(self, index: int) -> tuple[int, int]:
        """[start, end) of range `index`."""
        start = index * self.part_bytes
        return start, min(self.file.size, start + self.part_bytes)

    def open(self) -> None:
        with self.lock:
            if self.fd is not None:
                return
            try:
                self.partial.parent.mkdir(parents=True, exist_ok=True)
                self.fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                os.ftruncate(self.fd, self.file.size)
            except OSError as exc:
                raise WeightsError(f"weights {self.file.path}: {exc}") from None

    def close(self, keep: bool) -> None:
        with self.lock:
            fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)
        if not keep:
            self.partial.unlink(missing_ok=True)  # a partial copy is never left to be taken for a file


class RangeFetcher:
    """Downloads the tasks' ranges on `concurrency` threads; the first file that fails (or a stop)
    aborts the rest. `on_bytes(n)` counts bytes as they are written (a failed attempt's come back off,
    negative); `on_verified(file, stat)` runs once a file matched and was renamed into place."""

    def __init__(
        self,
        store: Store,
        bucket: str,
        *,
        concurrency: int,
        should_stop: Callable[[], bool],
        on_bytes: Callable[[int], None],
        on_verified: Callable[[WeightFile, os.stat_result], None],
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.concurrency = concurrency
        self.should_stop = should_stop
        self.on_bytes = on_bytes
        self.on_verified = on_verified
        self._abort = threading.Event()

    def download(self, tasks: list[FileTask]) -> None:
        work = [(task, i) for task in tasks for i in range(task.ranges)]  # file by file, in order
        if not work:
            return
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(work)),
                                thread_name_prefix="pull") as pool:
            futures = [pool.submit(self._range, task, i) for task, i in work]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                self._abort.set()  # the queued ranges return at once, the running ones at their next read
                for future in futures:
                    future.cancel()
                wait(futures)
                raise _first_error(futures)

    def _range(self, task: FileTask, index: int) -> None:
        if self._abort.is_set():
            return
        if self.should_stop():
            raise PullStopped("weights pull stopped: the runtime is stopping")
        task.open()
        start, end = task.bounds(index)
        path = task.file.path
        for attempt in range(1, RANGE_ATTEMPTS + 1):
            written = 0
            try:
                body, total = self.store.get_range(self.bucket, task.key, start, end - 1)
                try:
                    if total != task.file.size:
                        if total is None:
                            raise WeightsError(f"weights {path}: the server ignored the byte range")
                        raise WeightsError(f"weights {path}: size mismatch (expected {task.file.size} "
                                           f"bytes, object has {total})")
                    pos = start
                    while pos < end:
                        if self._abort.is_set():
                            return
                        if self.should_stop():
                            raise PullStopped("weights pull stopped: the runtime is stopping")
                        chunk = body.read(min(READ_CHUNK, end - pos))
                        if not chunk:
                            raise _ShortRange(f"response ended at byte {pos} of {start}-{end - 1}")
                        _pwrite_all(task.fd, chunk, pos)
                        pos += len(chunk)
                        written += len(chunk)
                        self.on_bytes(len(chunk))
                finally:
                    body.close()
                break
            except WeightsError:
                raise
            except (*TRANSIENT, _ShortRange) as exc:
                self.on_bytes(-written)
                code = error_code(exc)
                if code in ("NoSuchKey", "404"):
                    raise WeightsError(f"weights {path}: object s3://{self.bucket}/{task.key} "
                                       "is missing") from None
                if code == "InvalidRange":
                    raise WeightsError(f"weights {path}: size mismatch (expected {task.file.size} bytes, "
                                       f"the object is shorter)") from None
                if is_permanent(exc) or attempt == RANGE_ATTEMPTS:
                    raise WeightsError(f"weights {path}: bytes {start}-{end - 1} of s3://{self.bucket}/"
                                       f"{task.key}: {exc}") from None
                log.warning("weights range failed, retrying", path=path, start=start, attempt=attempt,
                            error=str(exc))
                if self._abort.wait(min(0.2 * 2**attempt, 5)):
                    return
        with task.lock:
            task.landed[index] = True
        self._hash_landed(task)

    def _hash_landed(self, task: FileTask) -> None:
        """Hash the landed ranges in file order, reading them back from the partial file (just
        written: from the page cache), so memory stays bounded whatever order ranges land in. Only
        one thread hashes a file at a time; one that finds the lock taken leaves its range to it."""
        while True:
            if not task.hash_lock.acquire(blocking=False):
                return
            try:
                while True:
                    with task.lock:
                        if task.hashed >= task.ranges or not task.landed[task.hashed]:
                            break
                        index = task.hashed
                    start, end = task.bounds(index)
                    while start < end:
                        if self._abort.is_set():
                            return
                        data = os.pread(task.fd, min(HASH_CHUNK, end - start), start)
                        if not data:
                            raise WeightsError(f"weights {task.file.path}: partial file shorter than written")
                        task.hasher.update(data)
                        start += len(data)
                    with task.lock:
                        task.hashed += 1
                with task.lock:
                    last = task.hashed == task.ranges and not task.finishing
                    task.finishing = task.finishing or last
            finally:
                task.hash_lock.release()
            if last:
                self._verify(task)
                return
            with task.lock:  # a range that landed while this thread was letting go of the lock
                if task.hashed >= task.ranges or not task.landed[task.hashed]:
                    return

    def _verify(self, task: FileTask) -> None:
        got = task.hasher.hexdigest()
        if got != task.file.sha256:
            raise WeightsError(f"weights {task.file.path}: sha256 mismatch "
                               f"(expected {task.file.sha256}, got {got})")
        try:
            os.fsync(task.fd)  # the rename below says "verified": the bytes must be on disk first
            task.close(keep=True)
            os.replace(task.partial, task.final)
            stat = task.final.stat()
        except OSError as exc:
            raise WeightsError(f"weights {task.file.path}: {exc}") from None
        self.on_verified(task.file, stat)


def _pwrite_all(fd: int | None, data: bytes, offset: int) -> None:
    assert fd is not None
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _first_error(futures: list[Any]) -> BaseException:
    """The error to report: a file's own failure (mismatch, missing) before an abort's echoes."""
    errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
    for exc in errors:
        if isinstance(exc, WeightsError) and not isinstance(exc, PullStopped):
            return exc
    return errors[0]
