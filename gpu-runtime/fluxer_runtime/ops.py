"""What operators run on a node over SSM besides the health endpoint: `logs` and `restart`, and the
state file they (and `status|drain|resume`) find the running runtime by.

The same scripts run on a real node (systemd, the journal, /run/fluxer/state.json) and on a local
one (FLUXER_ROOT, a log file the local region writes, FLUXER_RESTART_COMMAND)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from .config import LOG_FILE, Config

DEFAULT_LINES = 200
CURSOR_PREFIX = "fluxer-cursor: "
JOURNAL_UNIT = "fluxer-runtime"
RESTART_TIMEOUT_SECONDS = 300  # the unit's TimeoutStopSec (110) plus a model load, with room


class UsageProblem(Exception):
    """A bad argument: exit 2."""


class SourceProblem(Exception):
    """No log source can be read: exit 1."""


# ----- the state file ------------------------------------------------------------------------------


def read_state(cfg: Config) -> dict[str, Any] | None:
    """The first readable state file among FLUXER_STATE_FILE and $FLUXER_ROOT/run/fluxer/state.json."""
    for candidate in cfg.state_file_candidates():
        try:
            doc = json.loads(Path(candidate).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict):
            return doc
    return None


# ----- logs ----------------------------------------------------------------------------------------


def parse_since(text: str, now: float | None = None) -> float:
    """`--since`: seconds ago (`600`, `2.5`) or an ISO-8601 time (`2026-12-01T08:00:00Z`; no offset
    means UTC). Returns epoch seconds."""
    now = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return now - float(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageProblem(f"--since {text!r}: expected seconds ago (600) or an ISO-8601 time "
                           "(2026-12-01T08:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _line_time(text: str) -> float | None:
    """The `ts` of one of the runtime's JSON lines (logs.py); None for anything else."""
    if not text.startswith("{"):
        return None
    try:
        ts = json.loads(text).get("ts")
        return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError, TypeError):
        return None


@dataclass
class LogRead:
    lines: list[str]
    cursor: str


def log_file(cfg: Config) -> str | None:
    """FLUXER_LOG_FILE, else $FLUXER_ROOT/var/log/fluxer/runtime.log when it exists, else None (the
    journal)."""
    if cfg.log_file:
        return cfg.log_file
    default = cfg.under_root(LOG_FILE)
    return default if os.path.isfile(default) else None


def _file_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    match = re.fullmatch(r"file:(\d+):(\d+)", cursor)
    if not match:
        raise UsageProblem(f"--cursor {cursor!r}: not a cursor of this node's log file (expected what "
                           "`fluxer-runtime logs` printed after `fluxer-cursor:`)")
    return int(match[1]), int(match[2])


def read_file(path: str, since: float | None, lines: int | None, cursor: str | None) -> LogRead:
    """Complete lines from the cursor's offset (or the start) to the end. The cursor is
    `file:<inode>:<offset>`: a file rotated or recreated since (another inode, or shorter than the
    offset) is read from 0. A trailing line without its newline is left for the next read."""
    start = _file_cursor(cursor)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; binary keeps offsets exact
    except OSError as exc:
        raise SourceProblem(f"cannot read the log file {path}: {exc.strerror or exc}") from None
    with handle:
        info = os.fstat(handle.fileno())
        offset = 0
        if start is not None and start[0] == info.st_ino and start[1] <= info.st_size:
            offset = start[1]
        handle.seek(offset)
        keep: deque[str] = deque(maxlen=lines) if lines else deque()
        last_time: float | None = None
        for raw in _complete_lines(handle):
            offset += len(raw)
            text = raw.rstrip(b"\n").decode("utf-8", errors="replace")
            stamp = _line_time(text)
            if stamp is not None:
                last_time = stamp
            else:
                stamp = last_time  # a traceback line belongs to the line before it
            if since is not None and stamp is not None and stamp < since:
                continue
            keep.append(text)
        return LogRead(list(keep), f"file:{info.st_ino}:{offset}")


def _complete_lines(handle: Any) -> Iterator[bytes]:
    for raw in handle:
        if not raw.endswith(b"\n"):
            return  # still being written
        yield raw


JOURNAL_CURSOR = re.compile(r"^-- cursor: (.+)$")


def read_journal(since: float | None, lines: int | None, cursor: str | None) -> LogRead:
    """`journalctl -u fluxer-runtime -o cat`: the runtime's stdout lines, verbatim. The journal's own
    cursor is handed out as it is; `since:<epoch>` stands for "after this time" where the journal
    had no entry to take a cursor from."""
    args = ["journalctl", "-u", JOURNAL_UNIT, "-o", "cat", "--no-pager", "--show-cursor"]
    after_time = None
    if cursor is not None and cursor.startswith("since:"):
        try:
            after_time = float(cursor.removeprefix("since:"))
        except ValueError:
            raise UsageProblem(f"--cursor {cursor!r}: not a cursor `fluxer-runtime logs` printed") from None
        cursor = None
    if cursor is not None and cursor.startswith("file:"):
        raise UsageProblem(f"--cursor {cursor!r} is a log file's cursor, but this node logs to the journal")
    times = [t for t in (since, after_time) if t is not None]
    start = max(times) if times else None
    if start is not None:
        args += ["--since", f"@{start:.6f}"]
    if lines:
        args += ["-n", str(lines)]
    if cursor:
        args += ["--after-cursor", cursor]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise SourceProblem("no log source: no log file (FLUXER_LOG_FILE, "
                            f"$FLUXER_ROOT{LOG_FILE}) and no journalctl on PATH") from None
    except subprocess.TimeoutExpired:
        raise SourceProblem("journalctl did not answer within 60 s") from None
    if done.returncode != 0:
        raise SourceProblem(f"journalctl failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    out: list[str] = []
    next_cursor = None
    for text in done.stdout.splitlines():
        match = JOURNAL_CURSOR.match(text)
        if match:
            next_cursor = match[1]
        elif text != "-- No entries --":
            out.append(text)
    if next_cursor is None:  # nothing new: the same place again
        next_cursor = cursor or f"since:{start if start is not None else time.time():.6f}"
    return LogRead(out, next_cursor)


def logs(cfg: Config, since: str | None, lines: int | None, cursor: str | None,
         out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if lines is not None and lines < 1:
        raise UsageProblem(f"--lines {lines}: must be at least 1")
    after = parse_since(since) if since else None
    if lines is None and cursor is None:
        lines = DEFAULT_LINES
    path = log_file(cfg)
    read = read_file(path, after, lines, cursor) if path else read_journal(after, lines, cursor)
    for text in read.lines:
        out.write(text + "\n")
    out.flush()
    err.write(f"{CURSOR_PREFIX}{read.cursor}\n")
    err.flush()
    return 0


# ----- restart -------------------------------------------------------------------------------------


def restart(cfg: Config, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Runs FLUXER_RESTART_COMMAND (default: `systemctl reset-failed`, then `restart`, of the unit). The
    caller drains first, then polls `status` until a new pid / startedAt is READY."""
    state = read_state(cfg) or {}
    try:
        done = subprocess.run(cfg.restart_command, shell=True, capture_output=True, text=True,
                              timeout=RESTART_TIMEOUT_SECONDS, check=False)
        rc, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        rc, stderr = 124, f"{cfg.restart_command}: no answer after {RESTART_TIMEOUT_SECONDS}s\n"
    doc: dict[str, Any] = {"restarting": rc == 0, "previousPid": state.get("pid"),
                           "previousStartedAt": state.get("startedAt")}
    if rc != 0:
        doc["error"] = f"{cfg.restart_command!r} exited {rc}"
    out.write(json.dumps(doc) + "\n")
    out.flush()
    if stderr:
        err.write(stderr if stderr.endswith("\n") else stderr + "\n")
    return 0 if rc == 0 else 1
