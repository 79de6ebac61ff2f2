"""EC2 instance metadata over IMDSv2 only (fluxer's nodes require tokens): identity at start, and a
watcher for spot interruption notices and rebalance recommendations."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .logs import log

TOKEN_TTL_SECONDS = 21600


@dataclass(frozen=True)
class Identity:
    instance_id: str
    instance_type: str | None
    az: str | None
    az_id: str | None = None
    region: str | None = None
    lifecycle: str | None = None  # "spot" or "on-demand"
    launch_time: str | None = None  # the identity document's pendingTime


@dataclass(frozen=True)
class Notice:
    kind: str  # "spot" (instance-action: stop, terminate or hibernate), "rebalance" or "terminating"
    # ("terminating": Auto Scaling's target lifecycle state is Terminated)
    action: str | None
    time: datetime | None  # when the instance goes away; None for a rebalance recommendation


class Imds:
    def __init__(self, base_url: str, timeout: float = 1.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._token: str | None = None
        self._token_expires = 0.0

    def _fetch_token(self) -> str:
        request = urllib.request.Request(
            f"{self.base_url}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
        )
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            token = response.read().decode()
        self._token, self._token_expires = token, time.monotonic() + TOKEN_TTL_SECONDS - 60
        return token

    def get(self, path: str, root: str = "meta-data") -> str | None:
        """The metadata at `path`, None on 404 (a notice not issued yet). A rejected token (401) is
        renewed once; other failures raise."""
        for attempt in range(2):
            token = self._token if self._token and time.monotonic() < self._token_expires else None
            token = token or self._fetch_token()
            request = urllib.request.Request(
                f"{self.base_url}/latest/{root}/{path}", headers={"X-aws-ec2-metadata-token": token}
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    return response.read().decode()
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if exc.code == 401 and attempt == 0:
                    self._token = None
                    continue
                raise
        return None

    def identity(self) -> Identity:
        instance_id = self.get("instance-id")
        if not instance_id:
            raise OSError("IMDS returned no instance-id")
        lifecycle = self.get("instance-life-cycle")
        launch_time = None
        try:
            document = json.loads(self.get("instance-identity/document", root="dynamic") or "{}")
            launch_time = document.get("pendingTime") if isinstance(document, dict) else None
        except (OSError, ValueError):
            pass  # the record just lacks the launch time
        return Identity(
            instance_id, self.get("instance-type"), self.get("placement/availability-zone"),
            az_id=self.get("placement/availability-zone-id"), region=self.get("placement/region"),
            lifecycle=lifecycle if lifecycle in ("spot", "on-demand") else None, launch_time=launch_time,
        )

    def notices(self, lifecycle: bool = False) -> list[Notice]:
        """Every notice standing now, the most urgent first. lifecycle: also Auto Scaling's
        target-lifecycle-state (a fleet node's only). All of them, not the first: a rebalance
        recommendation stays in the metadata once issued, and must not hide the Terminated state that
        follows it (Capacity Rebalancing ends the node through its hook) nor the spot notice."""
        found: list[Notice] = []
        action = self.get("spot/instance-action")
        if action:
            doc = json.loads(action)
            when = datetime.fromisoformat(doc["time"].replace("Z", "+00:00")) if doc.get("time") else None
            found.append(Notice("spot", doc.get("action"), when))
        if self.get("events/recommendations/rebalance"):
            found.append(Notice("rebalance", None, None))
        if lifecycle and self.get("autoscaling/target-lifecycle-state") == "Terminated":
            found.append(Notice("terminating", None, None))
        return found

    def notice(self, lifecycle: bool = False) -> Notice | None:
        """The most urgent notice standing now, if any."""
        return next(iter(self.notices(lifecycle)), None)


class NoticeWatcher(threading.Thread):
    """Polls every `interval` seconds (AWS suggests 5; we poll faster, the call is local and cheap).
    Calls on_notice once per kind, the most urgent first; a rebalance may be followed by the real
    spot notice, or by Auto Scaling's Terminated."""

    def __init__(self, imds: Imds, interval: float, on_notice: Callable[[Notice], None],
                 lifecycle: bool = False) -> None:
        super().__init__(name="imds-watcher", daemon=True)
        self._imds = imds
        self._interval = interval
        self._on_notice = on_notice
        self._lifecycle = lifecycle
        self._stop_event = threading.Event()
        self._seen: set[str] = set()

    def stop(self) -> None:
        """Ends the loop after the poll in flight, if any; that poll's notice or failure is dropped."""
        self._stop_event.set()

    def run(self) -> None:
        failures = 0
        while not self._stop_event.is_set():
            try:
                notices = self._imds.notices(self._lifecycle)
                failures = 0
                for notice in notices:
                    if notice.kind not in self._seen and not self._stop_event.is_set():
                        self._seen.add(notice.kind)
                        self._on_notice(notice)
            except Exception as exc:
                if self._stop_event.is_set():
                    break  # stopped mid-poll (the worker is shutting down): not worth a log line
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:  # say so, without flooding the journal
                    log.warning("IMDS poll failed", error=str(exc), failures=failures)
            self._stop_event.wait(self._interval)
