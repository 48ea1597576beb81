"""Utility exports against the real test stack: a municipality with only a utility's export and registered meters
gets /consumption with correct coverage; a dry run stores nothing; re-importing changes nothing; a corrected value
becomes a revision; rejected lines are reported by line and field; unknown meter numbers are listed; the CLI, the
API route and the inbox folder are the entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy import Engine

from services.config import get_settings
from services.connectors import service
from services.consumption.service import process_dirty
from services.db import libpq_dsn
from tests.integration.api_helpers import building_body, make_token, meter_body, put_ok
from tests.integration.harness import scalar
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]
CPH = ZoneInfo("Europe/Copenhagen")

# Monthly district-heating reads at local midnight on the 1st, in MWh with a decimal comma, Windows-1252 as Excel
# writes it. Jan 12.5 MWh, Feb 9.75, Mar 7.75, Apr 5.125 (hand computed from the differences).
MONTHLY = """Fjernvarme - aflæsninger
Målernr.;Dato;Aflæsning;Enhed
5512345;01-01-2026;1.000,000;MWh
5512345;01-02-2026;1.012,500;MWh
5512345;01-03-2026;1.022,250;MWh
5512345;01-04-2026;1.030,000;MWh
5512345;01-05-2026;1.035,125;MWh
5512345;01-06-2026;12,3,4;MWh
4400001;01-01-2026;77;MWh
"""


def settle(stack: Stack) -> None:
    """Run the rollup process's step until nothing is pending (as the ingest worker's rollup loop does)."""
    with psycopg.connect(libpq_dsn(stack.db_url)) as conn:
        while True:
            with conn.transaction():
                if process_dirty(conn, CPH) == 0:
                    return


def post(client: httpx.Client, body: bytes, **params: Any) -> httpx.Response:
    return client.post("/api/v1/imports/utility", content=body, params=params,
                       headers={"Content-Type": "text/csv"})


def months(admin: httpx.Client) -> list[tuple[float, float]]:
    r = admin.get("/api/v1/consumption", params={"building_id": "B1", "carrier": "district_heating",
                                                 "start": "2026-01-01", "end": "2026-05-01", "resolution": "month"})
    assert r.status_code == 200, r.text
    return [(p["kwh"], p["coverage"]) for p in r.json()["series"]]


def estate(admin: httpx.Client) -> None:
    put_ok(admin, "/api/v1/buildings/B1", building_body(name="Rådhuset"))
    put_ok(admin, "/api/v1/meters/dh-1", meter_body("B1", carrier="district_heating", external_id="5512345"))
    put_ok(admin, "/api/v1/meters/el-1", meter_body("B1", mode="interval", interval_minutes=60,
                                                    external_id="571313100000000001"))


def test_monthly_register_reads_dry_run_import_reimport_and_revision(admin: httpx.Client, db: Engine,
                                                                     stack: Stack) -> None:
    estate(admin)
    body = MONTHLY.encode("cp1252")

    dry = post(admin, body, preset="dk-fjernvarme-aflaesning", dry_run="true", filename="fjernvarme.csv")
    assert dry.status_code == 200, dry.text
    report = dry.json()["files"][0]
    assert report["dry_run"] is True and report["file"] == "fjernvarme.csv"
    assert report["meters"] == [{"external_id": "5512345", "meter_id": "dh-1", "mode": "register", "readings": 5,
                                 "first_ts": "2026-01-01T00:00:00+01:00", "last_ts": "2026-05-01T00:00:00+02:00",
                                 "quantity": 35125.0, "unit": "kWh", "kwh": 35125.0}]
    assert report["rejected"] == [{"line": 8, "field": "Aflæsning", "message":
                                   "'12,3,4' is not a number (decimal comma, '.' only between groups of three "
                                   "digits)"}]
    assert report["unmapped"] == [{"external_id": "4400001", "lines": 1, "first_line": 9}]
    assert report["pipeline"]["stored"] == 5  # what the pipeline would do, rolled back
    assert scalar(db, "SELECT count(*) FROM readings") == 0  # a dry run stores nothing
    assert scalar(db, "SELECT count(*) FROM sync_unmapped") == 0

    real = post(admin, body, preset="dk-fjernvarme-aflaesning")
    assert real.status_code == 200, real.text
    run = real.json()["run"]
    assert (run["status"], run["trigger"], run["stored"], run["rejected"]) == ("partial", "api", 5, 1)
    assert scalar(db, "SELECT count(*) FROM readings WHERE source = 'utility'") == 5
    unmapped = admin.get("/api/v1/sync/unmapped", params={"source": "utility"}).json()
    assert [u["external_id"] for u in unmapped] == ["4400001"]

    settle(stack)
    assert months(admin) == [(12500.0, 1.0), (9750.0, 1.0), (7750.0, 1.0), (5125.0, 1.0)]

    again = post(admin, body, preset="dk-fjernvarme-aflaesning").json()["run"]  # re-importing changes nothing
    assert (again["stored"], again["duplicate"], again["revised"]) == (0, 5, 0)
    assert scalar(db, "SELECT count(*) FROM readings") == 5
    assert scalar(db, "SELECT count(*) FROM reading_revisions") == 0

    corrected = MONTHLY.replace("1.022,250", "1.022,750").encode("cp1252")
    third = post(admin, corrected, preset="dk-fjernvarme-aflaesning").json()["run"]
    assert (third["stored"], third["duplicate"], third["revised"]) == (0, 4, 1)
    assert scalar(db, "SELECT new_value FROM reading_revisions") == 1022750.0  # stored in the meter's kWh
    settle(stack)
    assert months(admin) == [(12500.0, 1.0), (10250.0, 1.0), (7250.0, 1.0), (5125.0, 1.0)]


def test_hourly_interval_rows_through_the_cli(admin: httpx.Client, db: Engine, stack: Stack, tmp_path: Path) -> None:
    estate(admin)
    lines = ["Målepunkt;Fra;Til;Forbrug;Enhed"]
    for h in range(24):
        nxt = f"15-01-2026 {h + 1:02d}:00" if h < 23 else "16-01-2026 00:00"
        lines.append(f"571313100000000001;15-01-2026 {h:02d}:00;{nxt};{1.5 if h % 2 else 2.5:.1f};kWh".replace(
            ".", ","))
    f = tmp_path / "el.csv"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "services.cli", "sync", "utility", "--file", str(f), "--preset",
           "dk-forbrug-periode", "--no-progress"]

    dry = subprocess.run([*cmd, "--dry-run"], cwd=REPO, env=stack.env, capture_output=True, text=True, check=False)
    assert dry.returncode == 0, dry.stderr + dry.stdout
    assert "24 reading(s) 2026-01-15T01:00:00+01:00 .. 2026-01-16T00:00:00+01:00, 48 kWh" in dry.stdout
    assert scalar(db, "SELECT count(*) FROM readings") == 0

    done = subprocess.run(cmd, cwd=REPO, env=stack.env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "24 stored" in done.stdout
    settle(stack)
    r = admin.get("/api/v1/consumption", params={"building_id": "B1", "carrier": "electricity",
                                                 "start": "2026-01-15", "end": "2026-01-16", "resolution": "day"})
    assert [(p["kwh"], p["coverage"]) for p in r.json()["series"]] == [(48.0, 1.0)]
    hours = admin.get("/api/v1/consumption", params={"building_id": "B1", "carrier": "electricity",
                                                     "start": "2026-01-15", "end": "2026-01-16",
                                                     "resolution": "hour"}).json()["series"]
    assert [p["kwh"] for p in hours[:3]] == [2.5, 1.5, 2.5] and len(hours) == 24

    again = subprocess.run(cmd, cwd=REPO, env=stack.env, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "0 stored, 24 unchanged" in again.stdout


def test_bad_input_is_a_4xx_naming_the_field_or_line(admin: httpx.Client, api: Any, db: Engine) -> None:
    estate(admin)
    r = post(admin, b"a;b;c\n1;2;3\n")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    assert "no header row" in r.json()["detail"]
    r = post(admin, MONTHLY.encode("cp1252"), preset="nope")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "preset"
    r = post(admin, MONTHLY.encode("cp1252"), preset='{"ambiguous": "sometimes"}')
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "preset"
    r = post(admin, b"")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    # every line rejected: 422 with each line and field
    r = post(admin, "Målernr.;Dato;Aflæsning\n5512345;32-01-2026;1\n5512345;01-02-2026;x\n".encode())
    assert r.status_code == 422, r.text
    assert [(e["line"], e["field"]) for e in r.json()["files"][0]["rejected"]] == [(2, "Dato"), (3, "Aflæsning")]
    assert r.json()["errors"][0] == {"field": "Dato", "message": "line 2: '32-01-2026' is not a date (day is out "
                                                                "of range for month)"}
    # an old .xls and a binary body
    r = post(admin, b"\xd0\xcf\x11\xe0" + b"\x00" * 64)
    assert r.status_code == 422 and ".xls" in r.json()["detail"]
    # a viewer may not import
    with api.client(make_token(admin, "viewer")) as viewer:
        assert post(viewer, MONTHLY.encode("cp1252")).status_code == 403
    assert scalar(db, "SELECT count(*) FROM readings") == 0


def test_the_inbox_imports_new_files_and_files_them_away(admin: httpx.Client, db: Engine, tmp_path: Path) -> None:
    estate(admin)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "jan.csv").write_bytes(MONTHLY.encode("cp1252"))
    (inbox / "junk.csv").write_bytes(b"nothing;to;see\n")
    import os
    old = 1_600_000_000
    for p in inbox.iterdir():
        os.utime(p, (old, old))  # settled: not being written any more
    settings = get_settings().model_copy(deep=True)
    settings.sync.utility.enabled = True
    settings.sync.utility.inbox = inbox
    settings.sync.utility.preset = "dk-fjernvarme-aflaesning"
    run = service.run_source("utility", settings=settings, trigger="schedule", actor="test")
    assert (run.status, run.stored, run.rejected, run.errors) == ("partial", 5, 1, 1)
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["jan.csv", "jan.csv.report.json"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["junk.csv", "junk.csv.report.json"]
    report = json.loads((inbox / "done" / "jan.csv.report.json").read_text(encoding="utf-8"))
    assert report["rejected"][0]["line"] == 8 and report["meters"][0]["readings"] == 5
    assert "no header row" in json.loads((inbox / "failed" / "junk.csv.report.json").read_text())["error"]
    assert [p.name for p in inbox.iterdir() if p.is_file()] == []
    nothing = service.run_source("utility", settings=settings, trigger="schedule", actor="test")
    assert (nothing.status, nothing.stored, nothing.message) == ("ok", 0, f"no new files in {inbox}")
    assert scalar(db, "SELECT count(*) FROM readings WHERE source = 'utility'") == 5


def test_an_xlsx_upload_with_excel_dates_and_numbers(admin: httpx.Client, db: Engine) -> None:
    import io
    from datetime import datetime

    import openpyxl

    estate(admin)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Fjernvarme, Rådhuset"])
    ws.append(["Målernummer", "Aflæsningsdato", "Energi (MWh)"])
    for month, mwh in ((1, 1000.0), (2, 1012.5), (3, 1022.25)):
        ws.append([5512345, datetime(2026, month, 1), mwh])  # Excel keeps the meter number as a number
    buf = io.BytesIO()
    wb.save(buf)
    r = admin.post("/api/v1/imports/utility", content=buf.getvalue(), params={"filename": "eksport.xlsx"},
                   headers={"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    assert r.status_code == 200, r.text
    f = r.json()["files"][0]
    assert (f["format"], f["header_line"], f["columns"]["reading"]) == ("xlsx", 2, "Energi (MWh)")
    assert f["meters"][0]["kwh"] == 22250.0 and r.json()["run"]["status"] == "ok"
    assert scalar(db, "SELECT count(*) FROM readings WHERE source = 'utility'") == 3
