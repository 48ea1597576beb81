"""Registry CSV import over real HTTP and through the CLI: all rows or none, errors by line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from tests.integration.api_helpers import building_body, put_ok
from tests.stack import REPO, Stack

pytest_plugins = ["tests.integration.api_fixtures"]

BUILDINGS_CSV = """\
id,name,type,heated_area_m2,heating,address,energy_label,opening_hours,hot_water_share
skole-1,Skovvejens Skole,school,5400,district_heating,"Skovvej 1, 2750 Ballerup",C,"{""mon"": [""07:00-16:00""]}",0.2
bh-2,Børnehuset Mælkebøtten,daycare,640.5,natural_gas,,,,
"""


def post_csv(client: httpx.Client, kind: str, body: str | bytes) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return client.post(f"/api/v1/imports/registry/{kind}", content=content, headers={"Content-Type": "text/csv"})


def count(db: Engine, table: str) -> int:
    with db.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_buildings_import_creates_then_updates(admin: httpx.Client, db: Engine) -> None:
    r = post_csv(admin, "buildings", BUILDINGS_CSV)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2 and r.json()["rejected"] == [] and r.json()["created"] == 2
    skole = admin.get("/api/v1/buildings/skole-1").json()
    assert skole["address"] == "Skovvej 1, 2750 Ballerup"
    assert skole["opening_hours"] == {"mon": ["07:00-16:00"]}
    assert skole["hot_water_share"] == 0.2
    bh = admin.get("/api/v1/buildings/bh-2").json()
    assert (bh["name"], bh["heated_area_m2"], bh["address"], bh["energy_label"]) == (
        "Børnehuset Mælkebøtten",
        640.5,
        None,
        None,
    )

    r = post_csv(admin, "buildings", BUILDINGS_CSV.replace("640.5", "700"))
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"]) == (0, 2)
    with db.connect() as conn:
        reasons = conn.execute(
            text("SELECT reason FROM building_area_history WHERE building_id = 'bh-2' ORDER BY valid_from")
        ).all()
    assert [x[0] for x in reasons] == ["registered", "updated via CSV import"]


def test_semicolon_separated_file_with_byte_order_mark(admin: httpx.Client) -> None:
    body = "\ufeffid;name;type;heated_area_m2;heating\nrh;Rådhuset;town_hall;9000;district_heating\n"
    r = post_csv(admin, "buildings", body)
    assert r.status_code == 200, r.text
    assert admin.get("/api/v1/buildings/rh").json()["name"] == "Rådhuset"


def test_a_bad_row_rejects_the_whole_file_with_line_numbers(admin: httpx.Client, db: Engine) -> None:
    body = (
        "id,name,type,heated_area_m2,heating,address\n"
        "ok-1,Fine,school,100,oil,\n"
        'ok-2,Fine too,school,100,oil,"Two-line\naddress"\n'
        "bad-1,Negative,school,-5,oil,\n"
        "bad 2,Coal,school,100,coal,\n"
        "ok-1,Duplicate,school,100,oil,\n"
        "no-name,,school,100,oil,\n"
        "short,row\n"
        "extra,Too,many,1,oil,,cells\n"
    )
    r = post_csv(admin, "buildings", body)
    assert r.status_code == 422, r.text
    out = r.json()
    assert out["accepted"] == 0
    assert {(e["line"], e["field"]) for e in out["rejected"]} == {
        (5, "heated_area_m2"),
        (6, "id"),
        (6, "heating"),
        (7, "id"),
        (8, "name"),
        (9, "type"),
        (9, "heated_area_m2"),
        (9, "heating"),
        (10, "row"),
    }
    assert [e["line"] for e in out["rejected"]] == sorted(e["line"] for e in out["rejected"])
    assert out["detail"] and out["errors"] and all(e["field"] for e in out["errors"])
    assert count(db, "buildings") == 0


def test_header_errors_are_reported_on_line_1(admin: httpx.Client) -> None:
    r = post_csv(admin, "buildings", "id,name,type,heated_area,heating\nb1,x,school,1,oil\n")
    assert r.status_code == 422
    assert {(e["line"], e["field"]) for e in r.json()["rejected"]} == {(1, "heated_area"), (1, "heated_area_m2")}
    r = post_csv(admin, "meters", "")
    assert r.status_code == 422 and r.json()["rejected"][0]["line"] == 1


def test_meters_import_with_sub_meter_before_its_parent(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    body = (
        "id,building_id,carrier,unit,mode,interval_minutes,external_id,kwh_per_unit,parent_meter_id\n"
        "hp,b1,heat_pump,kWh,interval,60,,,main\n"
        "main,b1,electricity,kWh,register,,12345678,,\n"
        "gas,b1,natural_gas,m3,register,,,10.6,\n"
    )
    r = post_csv(admin, "meters", body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    meters = {m["id"]: m for m in admin.get("/api/v1/meters", params={"building_id": "b1"}).json()}
    assert meters["hp"]["parent_meter_id"] == "main" and meters["hp"]["interval_minutes"] == 60
    assert meters["main"]["external_id"] == "12345678"
    assert meters["gas"]["effective_kwh_per_unit"] == 10.6


def test_meters_import_cross_row_and_database_errors(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    put_ok(admin, "/api/v1/buildings/b2", building_body())
    put_ok(
        admin,
        "/api/v1/meters/existing",
        {"building_id": "b2", "carrier": "water", "unit": "m3", "mode": "register", "external_id": "W-1"},
    )
    body = (
        "id,building_id,carrier,unit,mode,interval_minutes,external_id,parent_meter_id\n"
        "a,b1,electricity,kWh,register,,,\n"
        "b,nope,electricity,kWh,register,,,\n"
        "c,b1,electricity,kWh,register,,,existing\n"
        "d,b1,electricity,kWh,register,,W-1,\n"
        "e,b1,electricity,kWh,interval,,,\n"
        "f,b1,electricity,kWh,register,,,e\n"
        "g,b1,electricity,kWh,register,,,g2\n"
        "g2,b1,electricity,kWh,register,,,g\n"
    )
    r = post_csv(admin, "meters", body)
    assert r.status_code == 422, r.text
    assert {(e["line"], e["field"]) for e in r.json()["rejected"]} == {
        (3, "building_id"),
        (4, "parent_meter_id"),  # its parent is in another building
        (5, "external_id"),
        (6, "interval_minutes"),
        # line 7 refers to the broken row e: not reported a second time as unknown
        (8, "parent_meter_id"),
        (9, "parent_meter_id"),
    }
    assert count(db, "meters") == 1


def test_luminaires_import(admin: httpx.Client, db: Engine) -> None:
    put_ok(admin, "/api/v1/buildings/b1", building_body())
    body = "id,building_id,technology,rated_power_w,zone\nl1,b1,led,18,Gang A\nl2,b1,fluorescent,58,\n"
    r = post_csv(admin, "luminaires", body)
    assert r.status_code == 200, r.text
    assert [x["zone"] for x in admin.get("/api/v1/luminaires").json()] == ["Gang A", None]
    assert count(db, "luminaire_history") == 2
    r = post_csv(admin, "luminaires", body.replace("l2,b1", "l2,nope"))
    assert r.status_code == 422
    assert [(e["line"], e["field"]) for e in r.json()["rejected"]] == [(3, "building_id")]


def test_bad_bodies_and_kinds(admin: httpx.Client) -> None:
    r = post_csv(admin, "buildings", b"id,name\n\xff\xfe\n")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    r = post_csv(admin, "boilers", "id\n")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    r = post_csv(admin, "buildings", "id,name,type,heated_area_m2,heating\nb\x001,x,school,1,oil\n")
    assert r.status_code == 422, r.text


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        check=False,
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_import(stack: Stack, admin: httpx.Client, db: Engine, tmp_path: Path) -> None:
    good = tmp_path / "buildings.csv"
    good.write_text(BUILDINGS_CSV, encoding="utf-8")
    out = _cli(stack, "import", "buildings", str(good))
    assert out.returncode == 0, out.stderr
    assert "imported 2 buildings (2 created, 0 updated)" in out.stdout
    assert [b["id"] for b in admin.get("/api/v1/buildings").json()] == ["bh-2", "skole-1"]

    bad = tmp_path / "meters.csv"
    bad.write_text(
        "id,building_id,carrier,unit,mode\n"
        "m1,skole-1,electricity,kWh,register\n"
        "m2,nope,electricity,kWh,register\n"
        "m3,skole-1,x,kWh,register\n"
    )
    out = _cli(stack, "import", "meters", str(bad))
    assert out.returncode == 1
    assert f"{bad}:3: building_id:" in out.stderr and f"{bad}:4: carrier:" in out.stderr
    assert count(db, "meters") == 0

    assert _cli(stack, "import", "meters", str(tmp_path / "missing.csv")).returncode == 2
