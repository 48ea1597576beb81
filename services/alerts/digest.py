"""The daily digest: per recipient, the alerts first seen on a local day and every alert still active at its end,
as data and as an HTML mail body (every text escaped)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.alerts import repository
from services.db import PgConn
from services.localtime import RFC3339_RE, iso_local

MAX_ALERTS = 1000


def local_detail(alerts: list[dict[str, Any]], tz: ZoneInfo) -> list[dict[str, Any]]:
    """The instants the rules wrote into an alert's (and its events') `detail` as text, such as a silent meter's
    `last_reading` or a counter decision's `ts`, in local time like every other instant of the API (the stored text
    is left as it is: it is part of what dedupes a finding)."""

    def local(detail: Any) -> Any:
        if not isinstance(detail, dict):
            return detail
        return {k: iso_local(datetime.fromisoformat(v), tz)
                if isinstance(v, str) and RFC3339_RE.fullmatch(v) else v for k, v in detail.items()}

    return [{**a, "detail": local(a.get("detail")),
             **({"events": [{**e, "detail": local(e.get("detail"))} for e in a["events"]]} if "events" in a else {})}
            for a in alerts]


def digest(conn: PgConn, recipient: str, building_ids: Sequence[str] | None, day: date, tz: ZoneInfo
           ) -> dict[str, Any]:
    """One recipient's digest of local `day` over `building_ids` (None: every building)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    end = start + timedelta(days=1)
    ids = None if building_ids is None else list(building_ids)
    new = [a for a in repository.search(conn, building_ids=ids, building_id=None, rule=None, state=None, since=start,
                                   until=end, limit=MAX_ALERTS) if a["first_seen"] >= start]
    active = [a for a in repository.search(conn, building_ids=ids, building_id=None, rule=None, state=None, since=None,
                                      until=end, limit=MAX_ALERTS) if a["state"] != "resolved"]
    return {"recipient": recipient, "date": day.isoformat(), "new": local_detail(new, tz),
            "active": local_detail(active, tz),
            "wasted_kwh_active": round(sum(a["wasted_kwh"] or 0 for a in active), 1)}


def digests(conn: PgConn, day: date, tz: ZoneInfo) -> list[dict[str, Any]]:
    """One digest per facility manager with an active token, with its HTML, for a mail relay."""
    out = []
    for token_id, name, buildings in repository.facility_managers(conn):
        one = {**digest(conn, name, list(buildings), day, tz), "token_id": token_id, "buildings": list(buildings)}
        one["html"] = digest_html(one)
        out.append(one)
    return out


def digest_html(d: dict[str, Any]) -> str:
    def kwh(x: float | None) -> str:
        return "" if x is None else f"{x:.1f}"

    def rows(alerts: list[dict[str, Any]]) -> str:
        if not alerts:
            return "<p>None.</p>"
        items = "".join(
            f"<tr><td>{html.escape(a['building_id'])}</td><td>{html.escape(a['rule'])}</td>"
            f"<td>{html.escape(a['title'])}</td><td>{html.escape(a['state'])}</td>"
            f"<td>{kwh(a['wasted_kwh'])}</td></tr>" for a in alerts)
        return ("<table><tr><th>Building</th><th>Rule</th><th>What</th><th>State</th><th>Wasted kWh</th></tr>"
                f"{items}</table>")

    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Energiblik alerts {d['date']}</title>"
            "<style>body{font-family:system-ui,sans-serif}td,th{padding:2px 8px;text-align:left}</style></head><body>"
            f"<h1>Alerts for {html.escape(d['recipient'])}, {d['date']}</h1>"
            f"<h2>New ({len(d['new'])})</h2>{rows(d['new'])}"
            f"<h2>Still active ({len(d['active'])}, {d['wasted_kwh_active']} kWh wasted so far)</h2>"
            f"{rows(d['active'])}</body></html>")
