"""Powering the node off. A billed machine must never idle: under systemd's Restart=on-failure a
clean exit only restarts or idles the runtime, so "off" runs one configurable command
(FLUXER_POWEROFF_COMMAND, default `systemctl poweroff`). Tests set a harmless one; the local stack
maps it to the emulated instance stopping."""

from __future__ import annotations

import subprocess

from .logs import log


def power_off(command: str, reason: str) -> bool:
    log.warning("powering off", reason=reason, command=command)
    try:
        done = subprocess.run(command, shell=True, timeout=120, check=False, capture_output=True, text=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("power-off command failed", command=command, error=str(exc))
        return False
    if done.returncode != 0:
        log.error("power-off command failed", command=command, exitCode=done.returncode,
                  stderr=done.stderr.strip()[-500:])
        return False
    return True
