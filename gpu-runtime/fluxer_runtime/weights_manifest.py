"""A pushed model's manifest in the stack's bucket (weights.py): where it lives, what it must say.

`<prefix>models/<NAME>/manifest.json` (schema/model-manifest.v1.schema.json) lists each file's path,
size and sha256; a manifest that fails the schema, names another model, or holds a path that could
leave the weights folder (or collide with the folder's own files) is refused before anything is pulled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from .aws import Store

MANIFEST_SCHEMA_NAME = "model-manifest.v1.schema.json"
MARKER = ".verified"
JOURNAL = ".pulling"
PARTIAL = ".partial"
TRANSIENT = (BotoCoreError, ClientError, Urllib3Error, OSError)


class WeightsError(Exception):
    """No verified copy of the model's weights: the runtime goes FAILED with this message."""


class PullStopped(WeightsError):
    """The runtime was asked to stop (SIGTERM, dead-man's switch) while pulling."""


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
