"""`energiblik ingest reclaim CLIENT_ID`: take over the persistent session of an ingest worker that is gone for good,
store what the broker still holds for it, and end the session, so that the share group stops routing readings to it.

It is the worker's own retire mode (ENERGIBLIK_INGEST__RETIRE_ON_STOP) run under the dead worker's client id:
connect with clean_start False (the broker resumes the session and sends everything queued for it), store each batch
through the normal pipeline and acknowledge it after the commit, unsubscribe from the share group, keep storing
until the broker has sent nothing for `retire_idle_s`, then disconnect with SessionExpiryInterval 0.
"""

from __future__ import annotations

import logging
import time

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.worker import IngestWorker
from services.config import Settings
from services.db import libpq_dsn
from services.operations import repository
from services.operations.schemas import IngestMember, MemberState
from services.operations.service import ingest_members

log = logging.getLogger("energiblik.ingest.reclaim")

CONNECT_TIMEOUT_S = 30.0
RETIRED_BY = "energiblik ingest reclaim"


class ReclaimError(RuntimeError):
    pass


class _Reclaimer(IngestWorker):
    """A worker that stops (and so retires) as soon as the broker confirmed its subscription."""

    session_present: bool | None = None
    _started = 0.0

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        super()._on_connect(client, userdata, flags, reason, properties)
        if not reason.is_failure and self.session_present is None:
            self.session_present = bool(flags.session_present)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reason_codes: list[ReasonCode],
                      properties: Properties | None) -> None:
        super()._on_subscribe(client, userdata, mid, reason_codes, properties)
        if self.subscribed:
            self.request_stop()

    def _step(self) -> None:
        if not self.subscribed and time.monotonic() - self._started > CONNECT_TIMEOUT_S:
            # Leave without ending the session: a plain disconnect keeps it, and everything queued in it.
            self.client.disconnect()
            raise ReclaimError(f"not connected and subscribed within {CONNECT_TIMEOUT_S:.0f} s "
                               f"(broker {self.s.mqtt.host}:{self.s.mqtt.port}); the session is left as it was")
        super()._step()

    def run(self) -> int:
        self._started = time.monotonic()
        return super().run()


def find_member(settings: Settings, client_id: str) -> IngestMember | None:
    with psycopg.connect(libpq_dsn(settings.db.url)) as conn:
        for m in ingest_members(conn, settings.members.stale_after_s):
            if m.client_id == client_id:
                return m
    return None


def check(member: IngestMember | None, client_id: str, stale_after_s: float) -> str | None:
    """Why reclaiming this client id needs --force, or None."""
    if member is None:
        return (f"{client_id} is not a known ingest worker (table ingest_members); check the id, or use --force to "
                f"end a broker session of that id anyway")
    if member.state in (MemberState.connected, MemberState.not_connected):
        return (f"{client_id} is running: its heartbeat is {member.seconds_since_seen:.0f} s old (host {member.host}, "
                f"pid {member.pid}), fresher than {stale_after_s:.0f} s. Taking over its session would throw it off "
                f"the broker. Stop it for good instead (ENERGIBLIK_INGEST__RETIRE_ON_STOP=true, then SIGTERM), or "
                f"use --force if it is really gone")
    if member.state is MemberState.retired:
        return f"{client_id} was already retired at {member.retired_at:%Y-%m-%d %H:%M:%S%z} ({member.retired_by})"
    return None


def reclaim(settings: Settings, client_id: str, *, force: bool = False) -> int:
    """Drain and end the session of `client_id`. Exit code: 0 done, 1 refused, 3 database unavailable, 4 broker."""
    member = find_member(settings, client_id)
    refusal = check(member, client_id, settings.members.stale_after_s)
    if refusal and not force:
        print(f"refused: {refusal}")
        return 0 if member is not None and member.state is MemberState.retired else 1
    if member is not None and member.state is MemberState.expired:
        print(f"note: the session of {client_id} has probably expired already (last seen {member.last_seen_at:%c}, "
              f"expiry {member.session_expiry_s} s): what it held is gone; ending it anyway")
    group = member.share_group if member is not None else settings.mqtt.share_group
    s = settings.model_copy(update={
        "mqtt": settings.mqtt.model_copy(update={"client_id": client_id, "share_group": group}),
        "ingest": settings.ingest.model_copy(update={"retire_on_stop": True, "metrics_port": 0}),
        "members": settings.members.model_copy(update={"watch_broker": False}),
    })
    worker = _Reclaimer(s)
    print(f"reclaiming {client_id} (share group {group!r}) on {s.mqtt.host}:{s.mqtt.port}")
    try:
        code = worker.run()
    except ReclaimError as e:
        print(f"failed: {e}")
        return 4
    r = worker.metrics.registry

    def total(name: str) -> int:
        return int(r.get_sample_value(f"energiblik_ingest_{name}_total") or 0)

    if code != 0:
        print(f"failed: the worker stopped with exit code {code} (database unavailable?); the session is kept, "
              f"nothing acknowledged was lost: run the command again")
        return code
    with psycopg.connect(libpq_dsn(s.db.url)) as conn:
        repository.leave(conn, client_id, retired_by=RETIRED_BY, drained_messages=worker.received_count)
    print(f"reclaimed {client_id}: session {'resumed' if worker.session_present else 'was not on the broker'}; "
          f"{worker.received_count} messages stored through the pipeline ({total('readings_stored')} new "
          f"readings, {total('readings_duplicate')} duplicates, {total('telemetry_stored')} luminaire samples, "
          f"{total('dead_lettered')} dead letters, "
          f"{total('quarantined')} quarantined); unsubscribed, session ended, member retired")
    return 0
