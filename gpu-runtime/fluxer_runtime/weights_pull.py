"""A pull (weights.py): which of a manifest's files the folder already holds, the download of the rest
(weights_fetch.py), and the folder's bookkeeping — the `.pulling` journal while it runs, the
`.verified` marker when it is done, progress for the node's status.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .aws import Store
from .logs import log, utc_now
from .weights_fetch import FileTask, RangeFetcher
from .weights_manifest import JOURNAL, MARKER, PARTIAL, Manifest, WeightFile, WeightsError, file_key

PROGRESS_SECONDS = 0.5  # how often a pull reports bytes (files report on completion too)


@dataclass
class Progress:
    """What a pull downloads (files it already holds are `reused_files`, not counted in the rest)."""

    files: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    reused_files: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def doc(self) -> dict[str, Any]:
        with self.lock:
            end = self.finished if self.finished is not None else time.monotonic()
            return {"bytesDone": self.bytes_done, "bytesTotal": self.bytes_total, "files": self.files,
                    "filesDone": self.files_done, "reusedFiles": self.reused_files,
                    "seconds": round(end - self.started, 3)}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        json.dump(doc, out, indent=1, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


class Pull:
    """Brings `dest` to exactly the manifest's files, verified. `plan` is decided at construction;
    `run` downloads (raises WeightsError on any file it cannot verify)."""

    def __init__(
        self,
        store: Store,
        bucket: str,
        prefix: str,
        manifest: Manifest,
        dest: Path,
        *,
        concurrency: int = 16,
        part_bytes: int = 32 * 1024**2,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.prefix = prefix
        self.manifest = manifest
        self.dest = dest
        self.concurrency = max(1, concurrency)
        self.part_bytes = max(1, part_bytes)
        self.on_progress = on_progress
        self.should_stop = should_stop or (lambda: False)
        self._last_report = 0.0
        self._journal_lock = threading.Lock()
        marker = _read_json(dest / MARKER)
        self._marker_matches = marker.get("manifestSha256") == manifest.sha256
        known = {**_entries(marker), **_entries(_read_json(dest / JOURNAL))}
        self._known = known
        self.kept: dict[str, dict[str, Any]] = {}
        self.fetch: list[WeightFile] = []
        for f in manifest.files:
            entry = known.get(f.path)
            if entry and entry.get("sha256") == f.sha256 and _unchanged(dest / f.path, f.size, entry):
                self.kept[f.path] = entry
            else:
                self.fetch.append(f)
        self.progress = Progress(files=len(self.fetch), bytes_total=sum(f.size for f in self.fetch),
                                 reused_files=len(self.kept))

    @property
    def up_to_date(self) -> bool:
        """The folder holds this manifest's files, verified: nothing to download or write."""
        return not self.fetch and self._marker_matches

    def run(self) -> None:
        if self.up_to_date:
            self._finish_progress()
            return
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
            # From the first rename on, the old marker no longer tells the truth: drop it first; the
            # journal holds what is verified meanwhile.
            (self.dest / MARKER).unlink(missing_ok=True)
            self._verified = dict(self.kept)
            self._write_journal()
            self._remove_stale()
        except OSError as exc:
            raise WeightsError(f"weights folder {self.dest}: {exc}") from None
        tasks = [FileTask(f, file_key(self.prefix, self.manifest.model, f.path), self.dest / f.path,
                          self.part_bytes) for f in self.fetch]
        fetcher = RangeFetcher(self.store, self.bucket, concurrency=self.concurrency,
                               should_stop=self.should_stop, on_bytes=self._add_bytes,
                               on_verified=self._file_verified)
        try:
            fetcher.download(tasks)
            _write_json(self.dest / MARKER, {
                "manifestSha256": self.manifest.sha256, "manifestKey": self.manifest.key,
                "model": self.manifest.model, "createdAt": self.manifest.created_at,
                "verifiedAt": utc_now(), "files": self._verified,
            })
            (self.dest / JOURNAL).unlink(missing_ok=True)
        except OSError as exc:
            raise WeightsError(f"weights folder {self.dest}: {exc}") from None
        finally:
            for task in tasks:
                task.close(keep=False)
        self._finish_progress()

    # ----- bookkeeping ---------------------------------------------------------------------------

    def _file_verified(self, file: WeightFile, stat: os.stat_result) -> None:
        with self._journal_lock:
            self._verified[file.path] = {"size": file.size, "sha256": file.sha256,
                                         "mtimeNs": stat.st_mtime_ns}
            self._write_journal()
        with self.progress.lock:
            self.progress.files_done += 1
        log.info("weights file verified", path=file.path, bytes=file.size)
        self._report(force=True)

    def _write_journal(self) -> None:
        _write_json(self.dest / JOURNAL, {"manifestSha256": self.manifest.sha256, "files": self._verified})

    def _remove_stale(self) -> None:
        """Files an earlier push listed that this one does not, and partial copies of any pull."""
        wanted = {f.path for f in self.manifest.files}
        root = self.dest.resolve()
        for path in self._known:
            target = (self.dest / path).resolve()
            if path not in wanted and target.is_relative_to(root) and target != root:
                target.unlink(missing_ok=True)
        for partial in self.dest.rglob(f"*{PARTIAL}"):
            partial.unlink(missing_ok=True)

    def _add_bytes(self, n: int) -> None:
        with self.progress.lock:
            self.progress.bytes_done += n
        self._report()

    def _report(self, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        with self.progress.lock:
            if not force and now - self._last_report < PROGRESS_SECONDS:
                return
            self._last_report = now
        self.on_progress(self.progress)

    def _finish_progress(self) -> None:
        with self.progress.lock:
            self.progress.finished = time.monotonic()


def _entries(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    files = doc.get("files")
    return {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}


def _unchanged(path: Path, size: int, entry: dict[str, Any]) -> bool:
    """Still the file that was verified: there, of its size, not rewritten since (mtime)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    return stat.st_size == size == entry.get("size") and stat.st_mtime_ns == entry.get("mtimeNs")
