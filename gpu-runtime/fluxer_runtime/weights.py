"""Model weights from the stack's bucket (docs/runtime.md, "Weights").

`fluxer models push DIR --model NAME` uploads a model folder to `<prefix>models/<NAME>/files/<path>`
and writes `<prefix>models/<NAME>/manifest.json` last (schema/model-manifest.v1.schema.json). At boot
the runtime pulls every file it does not already hold with parallel ranged GETs into the weights
folder, hashes each file as its ranges land, renames it into place only when its sha256 matches, and
loads the model from that folder. A file that does not match, or a copy cut short, is never loaded.

The folder keeps two small JSON files beside the weights:
  .verified  written last, when every file of a manifest is in place and matched: the manifest's
             sha256 (of its bytes) and each file's size, sha256 and mtime. A restart with the same
             manifest re-checks each file's presence, size and mtime against it (no rehash) and
             downloads nothing; a new manifest pulls only the files whose sha256 or size changed.
  .pulling   while a pull runs: the files already verified (kept, or pulled and renamed). Removed
             when .verified is written. A pull cut short (spot interruption, reboot) resumes from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from .aws import Store, error_code, is_permanent
from .config import Config
from .logs import log, utc_now

MANIFEST_SCHEMA_NAME = "model-manifest.v1.schema.json"
MARKER = ".verified"
JOURNAL = ".pulling"
PARTIAL = ".partial"
READ_CHUNK = 1024**2  # bytes per read from a response and per pwrite: memory is concurrency x this
HASH_CHUNK = 8 * 1024**2
RANGE_ATTEMPTS = 5
PROGRESS_SECONDS = 0.5  # how often a pull reports bytes (files report on completion too)
TRANSIENT = (BotoCoreError, ClientError, Urllib3Error, OSError)


class WeightsError(Exception):
    """No verified copy of the model's weights: the runtime goes FAILED with this message."""


class PullStopped(WeightsError):
    """The runtime was asked to stop (SIGTERM, dead-man's switch) while pulling."""


class _ShortRange(Exception):
    """A response that ended before the bytes it promised: retried like a dropped connection."""


@dataclass(frozen=True)
class WeightFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    key: str
    model: str
    created_at: str
    total_bytes: int
    files: tuple[WeightFile, ...]
    sha256: str  # of the manifest's bytes: names this push


def manifest_key(prefix: str, model: str) -> str:
    return f"{prefix}models/{model}/manifest.json"


def file_key(prefix: str, model: str, path: str) -> str:
    return f"{prefix}models/{model}/files/{path}"


def manifest_schema_path() -> Path:
    """The repository's schema/ (a checkout), else the copy shipped in the package."""
    in_repo = Path(__file__).resolve().parents[2] / "schema" / MANIFEST_SCHEMA_NAME
    if in_repo.is_file():
        return in_repo
    return Path(str(resources.files("fluxer_runtime").joinpath(MANIFEST_SCHEMA_NAME)))


def parse_manifest(body: bytes, key: str, model: str) -> Manifest:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise WeightsError(f"weights manifest {key}: not JSON: {exc}") from None
    schema = json.loads(manifest_schema_path().read_text(encoding="utf-8"))
    error = best_match(Draft202012Validator(schema).iter_errors(doc))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(top)"
        raise WeightsError(f"weights manifest {key}: {where}: {error.message[:200]}")
    if doc["model"] != model:
        raise WeightsError(f"weights manifest {key}: is for model {doc['model']!r}, "
                           f"this node serves {model!r}")
    files = tuple(WeightFile(f["path"], f["size"], f["sha256"]) for f in doc["files"])
    paths = [f.path for f in files]
    if paths != sorted(set(paths)):
        raise WeightsError(f"weights manifest {key}: files must be sorted by path, each once")
    for f in files:
        parts = PurePosixPath(f.path).parts
        # the schema's pattern says the same; a path from the bucket must never leave the folder
        if f.path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in f.path \
                or parts[0] in (MARKER, JOURNAL) or f.path.endswith(PARTIAL):
            raise WeightsError(f"weights manifest {key}: unsafe path {f.path!r}")
    if sum(f.size for f in files) != doc["totalBytes"]:
        raise WeightsError(f"weights manifest {key}: totalBytes {doc['totalBytes']} is not the sum of "
                           f"the files' sizes ({sum(f.size for f in files)})")
    return Manifest(key, doc["model"], doc["createdAt"], doc["totalBytes"], files,
                    hashlib.sha256(body).hexdigest())


def read_manifest(store: Store, bucket: str, prefix: str, model: str) -> Manifest | None:
    """The model's manifest in the stack's bucket; None when no push wrote one."""
    key = manifest_key(prefix, model)
    try:
        body = store.get_bytes(bucket, key)
    except TRANSIENT as exc:
        # Not knowing whether a push exists must not fall back to other weights.
        raise WeightsError(f"weights manifest s3://{bucket}/{key}: {exc}") from None
    return None if body is None else parse_manifest(body, key, model)


def weights_dir(cfg: Config, model: str) -> Path:
    """FLUXER_WEIGHTS_DIR, else the instance store the Deep Learning AMI mounts at /opt/dlami/nvme,
    else /var/cache/fluxer/models/<model>. Neither default is ever imaged: the instance store is not
    part of an AMI, and `fluxer ami bake` empties /var/cache/fluxer/ before imaging."""
    if cfg.weights_dir:
        return Path(cfg.weights_dir)
    nvme = Path(cfg.under_root("/opt/dlami/nvme"))
    if nvme.is_dir():
        return nvme / "fluxer" / "models" / model
    return Path(cfg.under_root("/var/cache/fluxer/models")) / model


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


class _FileTask:
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
        self._abort = threading.Event()
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
        tasks = [_FileTask(f, file_key(self.prefix, self.manifest.model, f.path), self.dest / f.path,
                           self.part_bytes) for f in self.fetch]
        try:
            self._download(tasks)
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
                self._close(task, keep=False)
        self._finish_progress()

    # ----- downloading ---------------------------------------------------------------------------

    def _download(self, tasks: list[_FileTask]) -> None:
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

    def _range(self, task: _FileTask, index: int) -> None:
        if self._abort.is_set():
            return
        if self.should_stop():
            raise PullStopped("weights pull stopped: the runtime is stopping")
        self._open(task)
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
                        self._add_bytes(len(chunk))
                finally:
                    body.close()
                break
            except WeightsError:
                raise
            except (*TRANSIENT, _ShortRange) as exc:
                self._add_bytes(-written)
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

    def _open(self, task: _FileTask) -> None:
        with task.lock:
            if task.fd is not None:
                return
            try:
                task.partial.parent.mkdir(parents=True, exist_ok=True)
                task.fd = os.open(task.partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                os.ftruncate(task.fd, task.file.size)
            except OSError as exc:
                raise WeightsError(f"weights {task.file.path}: {exc}") from None

    def _hash_landed(self, task: _FileTask) -> None:
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

    def _verify(self, task: _FileTask) -> None:
        got = task.hasher.hexdigest()
        if got != task.file.sha256:
            raise WeightsError(f"weights {task.file.path}: sha256 mismatch "
                               f"(expected {task.file.sha256}, got {got})")
        try:
            os.fsync(task.fd)  # the rename below says "verified": the bytes must be on disk first
            self._close(task, keep=True)
            os.replace(task.partial, task.final)
            stat = task.final.stat()
        except OSError as exc:
            raise WeightsError(f"weights {task.file.path}: {exc}") from None
        with self._journal_lock:
            self._verified[task.file.path] = {"size": task.file.size, "sha256": task.file.sha256,
                                              "mtimeNs": stat.st_mtime_ns}
            self._write_journal()
        with self.progress.lock:
            self.progress.files_done += 1
        log.info("weights file verified", path=task.file.path, bytes=task.file.size)
        self._report(force=True)

    def _close(self, task: _FileTask, keep: bool) -> None:
        with task.lock:
            fd, task.fd = task.fd, None
        if fd is not None:
            os.close(fd)
        if not keep:
            task.partial.unlink(missing_ok=True)  # a partial copy is never left to be taken for a file

    # ----- bookkeeping ---------------------------------------------------------------------------

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


def pull_weights(
    store: Store,
    cfg: Config,
    model: str,
    on_start: Callable[[Pull], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Path, Pull] | None:
    """The folder holding the verified weights of the model's latest push, or None when the bucket
    has no manifest for it (the model then loads from FLUXER_MODEL_DIR or the hub, as before)."""
    if not cfg.bucket:
        return None
    manifest = read_manifest(store, cfg.bucket, cfg.prefix, model)
    if manifest is None:
        return None
    dest = weights_dir(cfg, model)
    pull = Pull(store, cfg.bucket, cfg.prefix, manifest, dest, concurrency=cfg.pull_concurrency,
                part_bytes=cfg.pull_part_bytes, on_progress=on_progress, should_stop=should_stop)
    if on_start is not None:
        on_start(pull)
    started = time.monotonic()
    pull.run()
    seconds = time.monotonic() - started
    log.info("weights ready", dir=str(dest), manifest=manifest.key, manifestSha256=manifest.sha256,
             files=len(manifest.files), pulledFiles=len(pull.fetch), reusedFiles=len(pull.kept),
             pulledBytes=pull.progress.bytes_total, seconds=round(seconds, 3),
             mbPerSecond=round(pull.progress.bytes_total / 1e6 / seconds, 1) if seconds > 0 else None)
    return dest, pull
