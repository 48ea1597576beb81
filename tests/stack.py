"""Where the tests find TimescaleDB and Mosquitto.

With a reachable Docker engine the stack comes from testcontainers (the timescale/timescaledb image and
eclipse-mosquitto with the generated password/ACL files). Without one, as on the project's own machines, the tests use
the private local stack of deploy/stack.sh (profile `test`: its own PostgreSQL cluster and Mosquitto on their own
ports), started idempotently here.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Stack:
    env: dict[str, str]
    kind: str  # "local" or "testcontainers"

    @property
    def db_url(self) -> str:
        return self.env["ENERGIBLIK_DB__URL"]

    @property
    def mqtt_host(self) -> str:
        return self.env["ENERGIBLIK_MQTT__HOST"]

    @property
    def mqtt_port(self) -> int:
        return int(self.env["ENERGIBLIK_MQTT__PORT"])

    @property
    def broker_secret(self) -> str:
        return self.env["ENERGIBLIK_BROKER__SECRET"]

    @property
    def admin_token(self) -> str:
        return self.env["ENERGIBLIK_ADMIN_TOKEN"]

    def stack_cmd(self, *args: str) -> None:
        """Run deploy/stack.sh for this stack (local stack only): e.g. pg-stop, pg-start."""
        if self.kind != "local":
            raise RuntimeError("stack commands need the local stack")
        subprocess.run(["bash", str(REPO / "deploy" / "stack.sh"), *args], check=True, env=self.env,
                       stdout=subprocess.DEVNULL)


def docker_available() -> bool:
    if os.environ.get("ENERGIBLIK_TEST_STACK", "auto") == "local":
        return False
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


def local_stack() -> Stack:
    # ENERGIBLIK_TEST_PROFILE=test2 runs a second, independent test stack (another checkout testing at the same time)
    env = {**os.environ, "ENERGIBLIK_PROFILE": os.environ.get("ENERGIBLIK_TEST_PROFILE", "test")}
    subprocess.run(["bash", str(REPO / "deploy" / "stack.sh"), "up"], check=True, env=env, stdout=subprocess.DEVNULL)
    out = subprocess.run(["bash", str(REPO / "deploy" / "stack.sh"), "env"], check=True, env=env,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return Stack(env=env, kind="local")


def container_stack() -> Stack:  # pragma: no cover - needs a Docker engine, which the project's machines lack
    import secrets
    import tempfile

    from testcontainers.core.container import DockerContainer
    from testcontainers.postgres import PostgresContainer

    pg = PostgresContainer("timescale/timescaledb:2.19.3-pg15", username="postgres", password="postgres",
                           dbname="energiblik", driver="psycopg")
    pg.start()
    env = {**os.environ}
    env["ENERGIBLIK_DB__URL"] = pg.get_connection_url()
    env["ENERGIBLIK_BROKER__SECRET"] = secrets.token_hex(32)
    env["ENERGIBLIK_MQTT__PASSWORD"] = secrets.token_hex(24)
    env["ENERGIBLIK_ADMIN_TOKEN"] = "eb_admin_" + secrets.token_hex(24)
    conf_dir = Path(tempfile.mkdtemp(prefix="energiblik-mq-"))
    env["ENERGIBLIK_BROKER__PASSWORD_FILE"] = str(conf_dir / "passwd")
    env["ENERGIBLIK_BROKER__ACL_FILE"] = str(conf_dir / "acl")
    subprocess.run([str(REPO / ".venv/bin/python"), "-m", "alembic", "-c", str(REPO / "migrations/alembic.ini"),
                    "upgrade", "head"], check=True, env=env)
    subprocess.run([str(REPO / ".venv/bin/python"), "-m", "services.cli", "broker-sync", "--no-reload"], check=True,
                   env=env)
    # As in deploy/docker-compose.yml: the broker config and run-broker.sh (which reloads Mosquitto when broker-sync
    # rewrites the password/ACL files, as tests do after registering buildings) from deploy/mosquitto.
    mq = (DockerContainer("eclipse-mosquitto:2.0").with_exposed_ports(1883)
          .with_env("MOSQUITTO_CONF", "/energiblik/mosquitto.conf")
          .with_volume_mapping(str(REPO / "deploy" / "mosquitto"), "/energiblik", "ro")
          .with_volume_mapping(str(conf_dir), "/mosquitto/config", "rw")
          .with_command("sh /energiblik/run-broker.sh"))
    mq.start()
    env["ENERGIBLIK_MQTT__HOST"] = mq.get_container_host_ip()
    env["ENERGIBLIK_MQTT__PORT"] = str(mq.get_exposed_port(1883))
    return Stack(env=env, kind="testcontainers")


def start_stack() -> Stack:
    return container_stack() if docker_available() else local_stack()
