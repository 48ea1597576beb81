"""Helpers for tests against the real stack: ingest workers as processes, publishers with broker credentials,
waiting for the database to reach a state (polling with a deadline, never fixed sleeps)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine, text

from services.broker.service import building_identity
from simulators.publisher import WindowedPublisher
from tests.stack import REPO, Stack

PREFIX = "energiblik/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last value {last!r}")


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as c:
        return c.execute(text(sql), params).scalar()


class WorkerProcess:
    """An ingest worker in its own process (python -m ingest) with its own client id and log file."""

    def __init__(self, stack: Stack, client_id: str, share_group: str, tmp: Path, **env: str) -> None:
        self.client_id = client_id
        self.metrics_port = free_port()
        self.log_path = tmp / f"{client_id}.log"
        self.env = {
            **stack.env,
            "ENERGIBLIK_MQTT__CLIENT_ID": client_id,
            "ENERGIBLIK_MQTT__SHARE_GROUP": share_group,
            "ENERGIBLIK_INGEST__METRICS_PORT": str(self.metrics_port),
            "ENERGIBLIK_INGEST__QUARANTINE_SWEEP_S": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.logf = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO, env=self.env,
                                     stdout=self.logf, stderr=self.logf)
        wait_for(self.healthy, timeout=30, what=f"worker {self.client_id} healthy")
        return self

    def healthy(self) -> bool:
        import httpx

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str) -> float:
        import httpx

        body = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "_total "):
                return float(line.split()[-1])
        raise KeyError(name)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.logf.close()
        return rc

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def end_session(stack: Stack, client_id: str) -> None:
    """Remove a persistent session from the broker so it stops collecting messages for later tests."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set("energiblik-ingest", stack.env["ENERGIBLIK_MQTT__PASSWORD"])
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c.connect(stack.mqtt_host, stack.mqtt_port, clean_start=True, properties=props)
    c.loop(timeout=0.5)
    c.disconnect()


class Workers:
    """Factory fixture: starts workers, and at the end stops them and removes their broker sessions."""

    def __init__(self, stack: Stack, tmp: Path) -> None:
        self.stack = stack
        self.tmp = tmp
        self.group = "g" + uuid.uuid4().hex[:8]
        self.started: list[WorkerProcess] = []

    def new(self, name: str = "w1", **env: str) -> WorkerProcess:
        w = WorkerProcess(self.stack, f"{self.group}-{name}", self.group, self.tmp, **env)
        self.started.append(w)
        return w

    def start(self, name: str = "w1", **env: str) -> WorkerProcess:
        return self.new(name, **env).start()

    def close(self) -> None:
        for w in self.started:
            if w.proc is not None and w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
        for cid in {w.client_id for w in self.started}:
            end_session(self.stack, cid)


def building_publisher(stack: Stack, building_id: str, **kw: Any) -> WindowedPublisher:
    ident = building_identity(stack.broker_secret, building_id)
    return WindowedPublisher(stack.mqtt_host, stack.mqtt_port, ident.username, ident.password, **kw)


def sync_broker(stack: Stack) -> None:
    subprocess.run([sys.executable, "-m", "services.cli", "broker-sync"], cwd=REPO, env=stack.env, check=True,
                   stdout=subprocess.DEVNULL)
    if stack.kind != "local":
        time.sleep(3)  # the broker container's run-broker.sh polls the files every 2 s; locally SIGHUP is immediate


def add_building(engine: Engine, bid: str, heating: str = "district_heating") -> None:
    with engine.begin() as c:
        c.execute(text("INSERT INTO buildings (id, name, type, heated_area_m2, heating) "
                       "VALUES (:id, :id, 'school', 1000, :h)"), {"id": bid, "h": heating})


def add_meter(engine: Engine, mid: str, bid: str, unit: str = "kWh", carrier: str = "electricity",
              external_id: str | None = None) -> None:
    with engine.begin() as c:
        c.execute(text("INSERT INTO meters (id, building_id, carrier, unit, mode, external_id) "
                       "VALUES (:id, :b, :c, :u, 'register', :e)"),
                  {"id": mid, "b": bid, "c": carrier, "u": unit, "e": external_id})


def reading_topic(bid: str, mid: str) -> str:
    return f"{PREFIX}/buildings/{bid}/meters/{mid}/readings"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")
