"""The job contract (v1). The rules live in one file, schema/job.v1.schema.json, shared with the
CLI; this module only finds it, validates with it and turns a valid message into a typed Job."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_NAME = "job.v1.schema.json"
ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SEED_MODULUS = 2**32


def schema_path() -> Path:
    """FLUXER_JOB_SCHEMA, else the repository's schema/ (a checkout or an editable install), else the
    copy shipped inside the package (a wheel: the package's symlink is materialised at build time)."""
    override = os.environ.get("FLUXER_JOB_SCHEMA")
    if override:
        return Path(override)
    in_repo = Path(__file__).resolve().parents[2] / "schema" / SCHEMA_NAME
    if in_repo.is_file():
        return in_repo
    return Path(str(resources.files("fluxer_runtime").joinpath(SCHEMA_NAME)))


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # RFC 3339 needs a date, a time and an offset; fromisoformat alone accepts bare dates.
    if not isinstance(value, str):
        return True  # the `type` keyword reports non-strings
    if "T" not in value.upper():
        return False
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed.tzinfo is not None


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema(), format_checker=_formats)


def model_defaults(model: str) -> dict[str, Any]:
    """The schema's per-model `default` annotations (width, height, steps, guidance)."""
    for branch in load_schema().get("allOf", []):
        if branch.get("if", {}).get("properties", {}).get("model", {}).get("const") == model:
            props = branch.get("then", {}).get("properties", {})
            return {name: spec["default"] for name, spec in props.items() if "default" in spec}
    raise KeyError(model)


def model_names() -> list[str]:
    return list(load_schema()["properties"]["model"]["enum"])


class Rejection(Exception):
    """A message that is not a job this runtime will run. `job_id`, `bucket`, `prefix` are what
    could be read from it (None when unreadable): they say where the `rejected` status goes."""

    def __init__(
        self,
        error_type: str,
        message: str,
        job_id: str | None = None,
        bucket: str | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.job_id = job_id
        self.bucket = bucket
        self.prefix = prefix


@dataclass(frozen=True)
class Job:
    id: str
    prompt: str
    negative_prompt: str | None
    model: str
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    count: int
    bucket: str
    prefix: str
    submitted_at: str
    submitted_by: str | None
    deadline: datetime | None

    def key(self, name: str) -> str:
        return f"{self.prefix}jobs/{self.id}/{name}"

    def image_key(self, index: int) -> str:
        return self.key(f"image-{index}.png")

    def image_seed(self, index: int) -> int:
        # Image i of a job always uses seed + i: a resumed job regenerates exactly what it lost.
        return (self.seed + index) % SEED_MODULUS


def _describe(error: ValidationError) -> str:
    if error.validator == "not" and isinstance(error.validator_value, dict):
        fields = error.validator_value.get("required", [])
        model = error.instance.get("model") if isinstance(error.instance, dict) else None
        return f"{', '.join(fields)}: not accepted by model {model!r}"
    where = ".".join(str(p) for p in error.absolute_path)
    text = f"{where}: {error.message}" if where else error.message
    # jsonschema quotes the bad value: a 1 MB prompt would land whole in the status and the log.
    return text if len(text) <= 300 else f"{text[:300]}… ({len(text)} characters)"


def parse_job(body: str) -> Job:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and a number past int's digit limit; RecursionError deep
        # nesting. Either escaping here would end the receiver thread: the worker would take no job again.
        raise Rejection("InvalidJSON", f"message body is not JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise Rejection("InvalidJSON", "message body is not a JSON object")

    job_id = doc.get("id") if isinstance(doc.get("id"), str) and ID_PATTERN.match(doc["id"]) else None
    output = doc.get("output") if isinstance(doc.get("output"), dict) else {}
    out_schema = load_schema()["properties"]["output"]
    bucket = prefix = None
    if not list(Draft202012Validator(out_schema).iter_errors(output)):
        bucket, prefix = output["bucket"], output["prefix"]

    if doc.get("version") != 1 and "version" in doc:
        raise Rejection(
            "UnsupportedVersion",
            f"job version {doc.get('version')!r} is not supported (this runtime knows version 1)",
            job_id, bucket, prefix,
        )
    errors = list(_validator().iter_errors(doc))
    if errors:
        # best_match prefers the most specific error; list every problem so one fix is enough.
        first = best_match(errors)
        rest = sorted({_describe(e) for e in errors} - {_describe(first)}) if first else []
        message = "; ".join([_describe(first), *rest][:5])
        raise Rejection("InvalidJob", message, job_id, bucket, prefix)

    deadline = doc.get("deadline")
    return Job(
        id=doc["id"],
        prompt=doc["prompt"],
        negative_prompt=doc.get("negativePrompt"),
        model=doc["model"],
        width=doc["width"],
        height=doc["height"],
        steps=doc["steps"],
        guidance=float(doc["guidance"]),
        seed=doc["seed"],
        count=doc["count"],
        bucket=doc["output"]["bucket"],
        prefix=doc["output"]["prefix"],
        submitted_at=doc["submittedAt"],
        submitted_by=doc.get("submittedBy"),
        deadline=datetime.fromisoformat(deadline.replace("Z", "+00:00")) if deadline else None,
    )
