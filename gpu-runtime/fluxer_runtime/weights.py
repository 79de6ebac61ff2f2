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

This module is the entry point (`pull_weights`, where the folder is) and the names callers import;
weights_manifest.py reads and checks the manifest, weights_pull.py decides what to pull and keeps the
folder's .pulling and .verified, weights_fetch.py downloads, hashes and renames each file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .aws import Store
from .config import Config
from .logs import log
from .weights_fetch import HASH_CHUNK, RANGE_ATTEMPTS, READ_CHUNK
from .weights_manifest import (
    JOURNAL,
    MANIFEST_SCHEMA_NAME,
    MARKER,
    PARTIAL,
    TRANSIENT,
    Manifest,
    PullStopped,
    WeightFile,
    WeightsError,
    file_key,
    manifest_key,
    manifest_schema_path,
    parse_manifest,
    read_manifest,
)
from .weights_pull import PROGRESS_SECONDS, Progress, Pull

__all__ = [
    "HASH_CHUNK", "JOURNAL", "MANIFEST_SCHEMA_NAME", "MARKER", "PARTIAL", "PROGRESS_SECONDS",
    "RANGE_ATTEMPTS", "READ_CHUNK", "TRANSIENT", "Manifest", "Progress", "Pull", "PullStopped",
    "WeightFile", "WeightsError", "file_key", "manifest_key", "manifest_schema_path", "parse_manifest",
    "pull_weights", "read_manifest", "weights_dir",
]


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
