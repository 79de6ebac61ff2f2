"""JSON-lines logs on stdout (journald on a node). Every line has `ts`, `level`, `msg`; job lines
carry `job_id`. One lock, so lines from the worker's threads never interleave."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone
from typing import Any, TextIO


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def _write(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        line = {"ts": utc_now(), "level": level, "msg": msg}
        line.update({k: v for k, v in fields.items() if v is not None})
        text = json.dumps(line, default=str)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(text + "\n")
            stream.flush()

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
