"""`fluxer-runtime`: serve | status | drain | resume | logs | restart | selftest | save-tiny | version.

The fluxer CLI sends exactly these over SSM. Exit codes: 0 ok; 1 failed, or not healthy (status), or
no log source (logs); 2 usage or configuration error; 3 the runtime is not reachable (status, drain,
resume).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import __version__

HEALTHY_STATES = ("READY", "BUSY")

# Quiet the libraries' import-time chatter: the runtime's own JSON lines are the log.
for _name, _value in (("TRANSFORMERS_VERBOSITY", "error"), ("DIFFUSERS_VERBOSITY", "error"),
                      ("TOKENIZERS_PARALLELISM", "false"), ("HF_HUB_DISABLE_TELEMETRY", "1")):
    os.environ.setdefault(_name, _value)


def _config() -> Any:
    from .config import ConfigError, load_config

    try:
        return load_config()
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    started = time.monotonic()
    from .serve import serve

    return serve(_config(), started)


def _health_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    from .ops import read_state

    cfg = _config()
    url = (read_state(cfg) or {}).get("healthUrl")
    if url:
        return str(url)
    return f"http://{cfg.health_host}:{cfg.health_port}"


def _call(url: str, method: str) -> tuple[int, dict[str, Any]] | None:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (OSError, ValueError):
        return None


def cmd_status(args: argparse.Namespace) -> int:
    url = _health_url(args)
    result = _call(f"{url}/health", "GET")
    if result is None:
        print(json.dumps({"state": None, "error": f"runtime not reachable at {url}"}))
        return 3
    _, doc = result
    print(json.dumps(doc, indent=2))
    return 0 if doc.get("state") in HEALTHY_STATES else 1


def _post(args: argparse.Namespace, action: str) -> int:
    url = _health_url(args)
    result = _call(f"{url}/{action}", "POST")
    if result is None:
        print(json.dumps({"error": f"runtime not reachable at {url}"}))
        return 3
    code, doc = result
    print(json.dumps(doc, indent=2))
    return 0 if code == 200 else 1


def cmd_logs(args: argparse.Namespace) -> int:
    from .ops import SourceProblem, UsageProblem, logs

    try:
        return logs(_config(), args.since, args.lines, args.cursor)
    except UsageProblem as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except SourceProblem as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1


def cmd_restart(args: argparse.Namespace) -> int:
    from .ops import restart

    return restart(_config())


def cmd_selftest(args: argparse.Namespace) -> int:
    """One tiny job through the real pipeline code, no SQS or S3: proves the node can render."""
    from datetime import datetime, timezone

    from .contract import Job, model_defaults
    from .logs import log
    from .pipelines import Engine, choose_policy, detect_device
    from .status import png_bytes

    log.use(sys.stderr)
    t0 = time.monotonic()
    device = detect_device(args.device)
    engine = Engine(args.model, device, choose_policy(args.model, device), os.environ.get("FLUXER_MODEL_DIR"))
    engine.load()
    loaded = time.monotonic()
    defaults = model_defaults(args.model)  # the schema's defaults, not a second copy of them
    job = Job(
        id="00000000-0000-7000-8000-000000000000", prompt="fluxer selftest: a lighthouse at dawn",
        negative_prompt=None, model=args.model, width=defaults["width"], height=defaults["height"],
        steps=defaults["steps"], guidance=float(defaults["guidance"]), seed=0, count=1, bucket="selftest",
        prefix="", submitted_at=datetime.now(timezone.utc).isoformat(), submitted_by="selftest",
        deadline=None,
    )
    first_step: list[float] = []
    image = engine.generate(job, 0, lambda step: bool(first_step.append(time.monotonic())))
    generated = time.monotonic()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="fluxer-selftest-")) / "selftest.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png_bytes(image, job, 0))
    print(json.dumps({
        "ok": True, "model": args.model, "device": device.name, "memoryPolicy": engine.policy,
        "width": job.width, "height": job.height, "steps": job.steps, "out": str(out),
        "loadSeconds": round(loaded - t0, 3), "generateSeconds": round(generated - loaded, 3),
        "firstStepSeconds": round(first_step[0] - loaded, 3) if first_step else None,
        "secondsPerStep": round((generated - loaded) / job.steps, 4),
        "totalSeconds": round(time.monotonic() - t0, 3),
    }))
    return 0


def cmd_save_tiny(args: argparse.Namespace) -> int:
    """The tiny model as a model folder: push it (`fluxer models push DIR --model tiny`) or point
    FLUXER_MODEL_DIR at it, and a CPU node runs the real folder-loading and pull paths."""
    from .tiny import save_tiny_pipeline

    folder = Path(args.dir)
    if folder.exists() and any(folder.iterdir()):
        print(f"Error: {folder} is not empty", file=sys.stderr)
        return 2
    save_tiny_pipeline(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in files)
    print(json.dumps({"dir": str(folder), "files": len(files), "bytes": size}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fluxer-runtime", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the worker (configuration: /etc/fluxer/runtime.env and FLUXER_*)")
    for name, text in (("status", "print the health JSON; non-zero when not healthy"),
                       ("drain", "stop taking jobs; the running job finishes"),
                       ("resume", "take jobs again after a drain")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--url", help="health endpoint (default: from the state file or host:port)")
    logs = sub.add_parser("logs", help="print the runtime's JSON log lines, oldest first; the last stderr "
                                       "line is `fluxer-cursor: C` (pass it back as --cursor to go on)")
    logs.add_argument("--since", help="seconds ago (600) or an ISO-8601 time")
    logs.add_argument("--lines", type=int, help=f"the last N lines (default {200} without --cursor)")
    logs.add_argument("--cursor", help="continue after the lines an earlier call printed")
    sub.add_parser("restart", help="restart the runtime (FLUXER_RESTART_COMMAND, default systemctl); "
                                   "prints the previous pid and startedAt")
    selftest = sub.add_parser("selftest", help="render one image without SQS or S3 and print timings")
    selftest.add_argument("--out", help="PNG path (default: a new temporary directory)")
    selftest.add_argument("--model", default="tiny", choices=["flux-dev", "flux-schnell", "sdxl", "tiny"])
    selftest.add_argument("--device", default=os.environ.get("FLUXER_DEVICE", "auto"),
                          choices=["auto", "cpu", "cuda"])
    save_tiny = sub.add_parser("save-tiny", help="write the tiny model as a model folder (diffusers "
                                                 "save_pretrained) to DIR, new or empty")
    save_tiny.add_argument("dir", metavar="DIR")
    sub.add_parser("version", help="print the runtime version")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "serve": cmd_serve,
        "status": cmd_status,
        "drain": lambda a: _post(a, "drain"),
        "resume": lambda a: _post(a, "resume"),
        "logs": cmd_logs,
        "restart": cmd_restart,
        "selftest": cmd_selftest,
        "save-tiny": cmd_save_tiny,
        "version": lambda a: print(__version__) or 0,
    }
    rc = int(handlers[args.command](args))
    if args.command in ("serve", "selftest"):
        # Tearing down an interpreter that holds torch, diffusers and transformers takes seconds
        # (4 s on a busy 2-core machine); everything is written and flushed, so skip it: a SIGTERM
        # then ends the process as soon as the drain is done.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
