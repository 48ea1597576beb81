"""The real API in a uvicorn subprocess against the test stack, and httpx clients for it.

Test modules load these fixtures with `pytest_plugins = ["tests.integration.api_fixtures"]`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.integration.api_helpers import Api
from tests.stack import REPO, Stack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[Api]:
    port = _free_port()
    metrics_port = _free_port()
    env = {
        **os.environ,
        **stack.env,
        "ENERGIBLIK_API_HOST": "127.0.0.1",
        "ENERGIBLIK_API_PORT": str(port),
        "ENERGIBLIK_API_METRICS_PORT": str(metrics_port),
        "ENERGIBLIK_LOG_JSON": "false",
    }
    log_path = Path(tempfile.mkdtemp(prefix="energiblik-api-")) / "api.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "api"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the API exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the API did not become healthy:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Api(base, stack.admin_token, log_path, f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def admin(api: Api, db: Engine) -> Iterator[httpx.Client]:
    """A client holding the environment's admin token, on a clean database."""
    with api.client(api.admin_token) as c:
        yield c
