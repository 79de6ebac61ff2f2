"""Loopback stand-ins for what moto does not serve, shared by the tests and bench/runtime_bench.py.
Test fixtures only: never shipped as product behaviour. README.md in this directory lists them."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ImdsStandIn:
    """Serves the IMDSv2 paths the runtime reads. Metadata GETs without a token (IMDSv1) get 401,
    as on an instance launched with HttpTokens=required."""

    def __init__(self) -> None:
        self.instance_id = "i-0123456789abcdef0"
        self.instance_type = "g5.xlarge"
        self.az = "us-east-1b"
        self.instance_action: dict[str, str] | None = None
        self.rebalance: dict[str, str] | None = None
        self.target_lifecycle_state: str | None = None  # Auto Scaling's, for an instance in a group
        self.tokens: set[str] = set()
        self.tokenless_requests = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # A runtime that gave up waiting (its 1 s timeout) has closed the connection.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def do_PUT(self) -> None:
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                if self.path == "/latest/api/token" and ttl:
                    token = secrets.token_hex(16)
                    stand_in.tokens.add(token)
                    self._reply(200, token)
                else:
                    self._reply(400)

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") not in stand_in.tokens:
                    stand_in.tokenless_requests += 1
                    self._reply(401)
                    return
                path = self.path.removeprefix("/latest/meta-data/")
                value = {
                    "instance-id": stand_in.instance_id,
                    "instance-type": stand_in.instance_type,
                    "placement/availability-zone": stand_in.az,
                    "placement/availability-zone-id": "use1-az4",
                    "placement/region": "us-east-1",
                    "instance-life-cycle": "spot",
                    "/latest/dynamic/instance-identity/document": json.dumps(
                        {"instanceId": stand_in.instance_id, "instanceType": stand_in.instance_type,
                         "region": "us-east-1", "availabilityZone": stand_in.az,
                         "pendingTime": "2026-11-30T08:00:00Z"}),
                    "spot/instance-action": json.dumps(stand_in.instance_action)
                    if stand_in.instance_action else None,
                    "events/recommendations/rebalance": json.dumps(stand_in.rebalance)
                    if stand_in.rebalance else None,
                    "autoscaling/target-lifecycle-state": stand_in.target_lifecycle_state,
                }.get(path)
                self._reply(200, value) if value is not None else self._reply(404)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def notice_in(self, seconds: float, action: str = "terminate") -> None:
        when = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        self.instance_action = {"action": action, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def recommend_rebalance(self) -> None:
        self.rebalance = {"noticeTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}

    def terminate_in_group(self) -> None:
        """Auto Scaling terminating the instance (scale-in, a rebalancing replacement InService)."""
        self.target_lifecycle_state = "Terminated"

    def clear(self) -> None:
        self.instance_action = self.rebalance = self.target_lifecycle_state = None
        self.tokenless_requests = 0
