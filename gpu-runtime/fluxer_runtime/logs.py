"""JSON-lines logs on stdout (journald on a node). Every line has `ts`, `level`, `msg`; job lines
carry `job_id`. One lock, so lines from the worker's threads never interleave. Sinks see every line
after it is written (the worker's per-job log, joblogs.py)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TextIO

Sink = Callable[[dict[str, Any], str], None]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._sinks: tuple[Sink, ...] = ()

    def _write(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        line = {"ts": utc_now(), "level": level, "msg": msg}
        line.update({k: v for k, v in fields.items() if v is not None})
        text = json.dumps(line, default=str)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(text + "\n")
            stream.flush()
            sinks = self._sinks
        for sink in sinks:  # outside the lock: a sink takes locks of its own
            sink(line, text)

    def add_sink(self, sink: Sink) -> None:
        with self._lock:
            self._sinks = (*self._sinks, sink)

    def remove_sink(self, sink: Sink) -> None:
        with self._lock:
            self._sinks = tuple(s for s in self._sinks if s is not sink)

    def use(self, stream: TextIO) -> None:
        """Send lines elsewhere (selftest keeps stdout for its one JSON result)."""
        self._stream = stream

    def info(self, msg: str, **fields: Any) -> None:
        self._write("info", msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self._write("warning", msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        self._write("error", msg, fields)


log = JsonLog()
