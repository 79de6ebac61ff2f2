"""The loopback control endpoint: GET /health, POST /drain, POST /resume."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        health: Callable[[], dict[str, Any]],
        actions: dict[str, Callable[[], tuple[int, dict[str, Any]]]],
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # A caller that gave up (a timeout) has nothing left to tell.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/health", ""):
                    self._send(200, health())
                else:
                    self._send(404, {"error": f"no such path: {self.path}"})

            def do_POST(self) -> None:
                action = actions.get(self.path.strip("/"))
                if action is None:
                    self._send(404, {"error": f"no such action: {self.path}"})
                    return
                code, doc = action()
                self._send(code, doc)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the runtime's own JSON log says what matters; access lines would be noise

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
