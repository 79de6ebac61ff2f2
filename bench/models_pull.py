"""The Python half of bench/models-pull.mjs (run it through that script).

  setup ENDPOINT BUCKET PREFIX DIR FILES MIB   random files in DIR, uploaded as `fluxer models push`
                                               leaves them (files/ with sha256 metadata, manifest last)
  pull ENDPOINT BUCKET PREFIX DEST             the runtime's own puller (fluxer_runtime.weights.Pull,
                                               sha256 verification included), as a node runs it at boot;
                                               prints {"seconds", "bytes"} on stdout
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

MODEL = "flux-schnell"  # a model the manifest schema lists; the files are random bytes


def setup(endpoint: str, bucket: str, prefix: str, folder: str, count: int, mib: int) -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    files = []
    transfer = TransferConfig(multipart_chunksize=64 * 1024**2, max_concurrency=4)
    for i in range(count):
        path = f"transformer/diffusion_pytorch_model-{i + 1:05d}-of-{count:05d}.safetensors"
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with target.open("wb") as out:
            for _ in range(mib):
                block = os.urandom(1024**2)
                digest.update(block)
                out.write(block)
        sha = digest.hexdigest()
        s3.upload_file(str(target), bucket, f"{prefix}models/{MODEL}/files/{path}",
                       ExtraArgs={"Metadata": {"sha256": sha}}, Config=transfer)
        files.append({"path": path, "size": mib * 1024**2, "sha256": sha})
    manifest = {"version": 1, "model": MODEL, "createdAt": datetime.now(UTC).isoformat(),
                "totalBytes": sum(f["size"] for f in files), "files": sorted(files, key=lambda f: f["path"])}
    s3.put_object(Bucket=bucket, Key=f"{prefix}models/{MODEL}/manifest.json", Body=json.dumps(manifest).encode())


def pull(endpoint: str, bucket: str, prefix: str, dest: str) -> None:
    from fluxer_runtime.aws import Store, client
    from fluxer_runtime.config import load_config
    from fluxer_runtime.weights import Pull, read_manifest

    cfg = load_config({"FLUXER_ENV_FILE": "/nonexistent", "FLUXER_ENDPOINT_URL": endpoint,
                       "FLUXER_REGION": "us-east-1", **{k: v for k, v in os.environ.items()
                                                          if k.startswith("FLUXER_PULL_")}})
    store = Store(client("s3", cfg, max_pool_connections=cfg.pull_concurrency + 4))
    manifest = read_manifest(store, bucket, prefix, MODEL)
    assert manifest is not None
    started = time.monotonic()
    job = Pull(store, bucket, prefix, manifest, Path(dest), concurrency=cfg.pull_concurrency,
               part_bytes=cfg.pull_part_bytes)
    job.run()
    seconds = time.monotonic() - started
    assert len(job.fetch) == len(manifest.files)
    print(json.dumps({"seconds": round(seconds, 3), "bytes": manifest.total_bytes,
                      "concurrency": cfg.pull_concurrency, "partMiB": cfg.pull_part_bytes // 1024**2}))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup":
        setup(args[0], args[1], args[2], args[3], int(args[4]), int(args[5]))
    else:
        pull(*args)
