"""The app as a real server process for tests that need one (crash recovery, two workers on
one database): uvicorn on a free port, started with the given ``ALLIANCE_*`` environment and
waited for until ``/healthz`` answers. One place, so every such test starts it the same way."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(
    env: Mapping[str, str], log: Path, *, timeout_s: float, start_new_session: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the app with ``env`` over this process's environment, output appended to
    ``log``; return the process and its base URL once ``/healthz`` answers 200. Fails the
    test (after killing the process) if it exits or does not answer within ``timeout_s``."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "alliance.web.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=start_new_session,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1.0).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait(timeout=10)
    pytest.fail(f"server did not answer /healthz within {timeout_s:g} s")
