"""The worker's I/O lane: one FIFO of storage and queue work, so a job's final status always
follows its last image."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from .logs import log


class IoLane(threading.Thread):
    """One FIFO of storage and queue work. Status writes of a run coalesce: while one is queued,
    later progress only updates what that write will snapshot."""

    def __init__(self) -> None:
        super().__init__(name="io-lane", daemon=True)
        self._tasks: collections.deque[Callable[[], None]] = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False

    def submit(self, task: Callable[[], None]) -> None:
        with self._cond:
            self._tasks.append(task)
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self._cond:
            while self._tasks or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._tasks and not self._closed:
                    self._cond.wait()
                if not self._tasks:
                    return
                task = self._tasks.popleft()
                self._busy = True
            try:
                task()
            except Exception as exc:  # a task handles its own job's errors; this is the last guard
                log.error("io task failed", error=repr(exc))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
