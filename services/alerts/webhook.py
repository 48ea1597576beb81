"""Webhook notifications: deliveries queued with the alert change, POSTed as signed JSON, retried with back-off."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from services.alerts import repository
from services.config import AlertSettings
from services.db import PgConn

log = logging.getLogger("energiblik.alerts.webhook")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    """One delivery attempt; raises on anything but a 2xx answer."""
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - the operator's configured URL
                                 headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(req, timeout=timeout_s) as r:  # noqa: S310
        if not 200 <= r.status < 300:
            raise OSError(f"HTTP {r.status}")


def deliver_due(conn: PgConn, s: AlertSettings, now: datetime, limit: int = 50) -> tuple[int, int]:
    """Try the deliveries that are due, in the caller's transaction. Returns (delivered, failed attempts)."""
    if not s.webhook_url:
        return 0, 0
    rows = repository.due_deliveries(conn, now, limit)
    ok = bad = 0
    secret = s.webhook_secret.get_secret_value() if s.webhook_secret else ""
    for delivery_id, event, payload, attempts in rows:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {"X-Energiblik-Event": event, "X-Energiblik-Delivery": str(delivery_id),
                   "X-Energiblik-Signature": signature(secret, body)}
        try:
            post(s.webhook_url, body, headers, s.webhook_timeout_s)
        except (OSError, urllib.error.URLError) as exc:
            bad += 1
            n = attempts + 1
            wait = min(3600.0, s.webhook_backoff_s * 2 ** (n - 1))
            final = n >= s.webhook_max_attempts
            repository.delivery_failed(conn, delivery_id, attempts=n, error=str(exc)[:500],
                                       next_attempt_at=now + timedelta(seconds=wait), final=final, now=now)
            log.warning("webhook delivery failed", extra={"delivery": delivery_id, "attempt": n, "final": final,
                                                          "error": str(exc)[:200]})
            continue
        ok += 1
        repository.delivery_done(conn, delivery_id, now)
    return ok, bad
