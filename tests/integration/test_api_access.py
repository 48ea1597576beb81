"""Access control over real HTTP: tokens, roles, and building scopes that never leak ids."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.integration.api_helpers import Api, building_body, luminaire_body, make_token, meter_body, put_ok
from tests.stack import REPO, Stack

# Every read endpoint that concerns one building, for building b2 (outside a b1 facility manager's scope).
B2_READS = [
    "/api/v1/buildings/b2",
    "/api/v1/buildings/b2/area-history",
    "/api/v1/meters?building_id=b2",
    "/api/v1/meters/m2",
    "/api/v1/meters/m2/readings",
    "/api/v1/meters/m2/revisions",
    "/api/v1/luminaires?building_id=b2",
    "/api/v1/luminaires/l2",
    "/api/v1/luminaires/l2/telemetry",
]
B1_READS = [p.replace("b2", "b1").replace("m2", "m1").replace("l2", "l1") for p in B2_READS]

# The real API in a subprocess, and an admin client on a clean database (fixtures `api`, `admin`).
pytest_plugins = ["tests.integration.api_fixtures"]


@pytest.fixture
def portfolio(admin: httpx.Client) -> httpx.Client:
    """Two buildings, each with a meter and a luminaire."""
    for b in ("b1", "b2"):
        put_ok(admin, f"/api/v1/buildings/{b}", building_body())
        put_ok(admin, f"/api/v1/meters/m{b[1]}", meter_body(b))
        put_ok(admin, f"/api/v1/luminaires/l{b[1]}", luminaire_body(b))
    return admin


def test_no_or_bad_token_is_401_with_bearer_challenge(api: Api, portfolio: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer eb_not-a-token"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        for method, path in (
            ("GET", "/api/v1/buildings"),
            ("PUT", "/api/v1/buildings/b1"),
            ("GET", "/api/v1/meters/m1/readings"),
            ("GET", "/api/v1/dead-letters"),
        ):
            r = httpx.request(method, api.base_url + path, headers=headers, json=building_body())
            assert r.status_code == 401, (headers, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["errors"][0]["field"] == "authorization"


def test_facility_manager_sees_only_assigned_buildings(api: Api, portfolio: httpx.Client) -> None:
    with api.client(make_token(portfolio, "facility_manager", ["b1"])) as fm:
        assert [b["id"] for b in fm.get("/api/v1/buildings").json()] == ["b1"]
        assert [m["id"] for m in fm.get("/api/v1/meters").json()] == ["m1"]
        assert [x["id"] for x in fm.get("/api/v1/luminaires").json()] == ["l1"]
        for path in B1_READS:
            assert fm.get(path).status_code == 200, path
        for path in B2_READS:
            r = fm.get(path)
            assert r.status_code == 404, (path, r.text)
            # Indistinguishable from an id that does not exist.
            nonexistent = fm.get(path.replace("b2", "b9").replace("m2", "m9").replace("l2", "l9"))
            assert nonexistent.status_code == 404
            assert r.json()["detail"].replace("2", "9") == nonexistent.json()["detail"]


def test_facility_manager_and_viewer_cannot_write_or_read_rejects(api: Api, portfolio: httpx.Client) -> None:
    tokens = {
        "facility_manager": make_token(portfolio, "facility_manager", ["b1"]),
        "viewer": make_token(portfolio, "viewer"),
    }
    for role, token in tokens.items():
        with api.client(token) as c:
            for path, body in (
                ("/api/v1/buildings/b1", building_body()),
                ("/api/v1/meters/m1", meter_body("b1")),
                ("/api/v1/luminaires/l1", luminaire_body("b1")),
            ):
                r = c.put(path, json=body)
                assert r.status_code == 403, (role, path, r.text)
                assert r.json()["errors"][0]["field"] == "authorization"
            r = c.post("/api/v1/imports/registry/buildings", content=b"id,name,type,heated_area_m2,heating\n")
            assert r.status_code == 403, role
            for path in ("/api/v1/dead-letters", "/api/v1/quarantine", "/api/v1/tokens"):
                assert c.get(path).status_code in (403, 404), (role, path)
            assert c.post("/api/v1/tokens", json={"name": "x", "role": "admin"}).status_code == 403


def test_viewer_reads_everything(api: Api, portfolio: httpx.Client) -> None:
    with api.client(make_token(portfolio, "viewer")) as v:
        assert [b["id"] for b in v.get("/api/v1/buildings").json()] == ["b1", "b2"]
        for path in B1_READS + B2_READS:
            assert v.get(path).status_code == 200, path


def test_energy_team_writes_registry_and_reads_rejects_but_not_tokens(api: Api, portfolio: httpx.Client) -> None:
    with api.client(make_token(portfolio, "energy_team")) as et:
        assert et.put("/api/v1/buildings/b3", json=building_body()).status_code == 201
        assert et.get("/api/v1/dead-letters").status_code == 200
        assert et.get("/api/v1/quarantine").status_code == 200
        assert et.get("/api/v1/tokens").status_code == 403
        assert et.post("/api/v1/tokens", json={"name": "x", "role": "viewer"}).status_code == 403


def test_tokens_are_stored_hashed_listed_without_secrets_and_revocable(
    api: Api, portfolio: httpx.Client, db: Engine
) -> None:
    r = portfolio.post(
        "/api/v1/tokens", json={"name": "Driftsleder Vest", "role": "facility_manager", "building_ids": ["b2", "b1"]}
    )
    assert r.status_code == 201, r.text
    created = r.json()
    token = created["token"]
    assert token.startswith("eb_") and len(token) > 40
    assert created["building_ids"] == ["b1", "b2"]
    with db.connect() as conn:
        stored = conn.execute(text("SELECT token_sha256 FROM api_tokens WHERE id = :id"), {"id": created["id"]}).one()
    assert stored[0] == hashlib.sha256(token.encode()).hexdigest()

    r = portfolio.get("/api/v1/tokens")
    listed = r.json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and token not in r.text

    with api.client(token) as fm:
        assert fm.get("/api/v1/buildings").status_code == 200
        r = portfolio.delete(f"/api/v1/tokens/{created['id']}")
        assert r.status_code == 200
        assert r.json()["revoked_at"] is not None
        r = fm.get("/api/v1/buildings")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
    assert portfolio.delete("/api/v1/tokens/999999").status_code == 404
    assert portfolio.delete("/api/v1/tokens/abc").status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "role": "facility_manager"}, "building_ids"),
        ({"name": "x", "role": "facility_manager", "building_ids": ["nope"]}, "building_ids"),
        ({"name": "x", "role": "viewer", "building_ids": ["b1"]}, "building_ids"),
        ({"name": "x", "role": "superuser"}, "role"),
        ({"role": "viewer"}, "name"),
        ({"name": "x", "role": "facility_manager", "building_ids": ["bad id"]}, "building_ids.0"),
    ],
)
def test_token_validation_names_the_field(portfolio: httpx.Client, body: dict[str, object], field: str) -> None:
    r = portfolio.post("/api/v1/tokens", json=body)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


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


def test_token_cli_create_list_revoke(api: Api, stack: Stack, portfolio: httpx.Client) -> None:
    out = _cli(stack, "token", "create", "--name", "Driftsleder Øst", "--role", "facility_manager", "--building", "b2")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("eb_") and "\n" not in token
    with api.client(token) as fm:
        assert [b["id"] for b in fm.get("/api/v1/buildings").json()] == ["b2"]

    listing = _cli(stack, "token", "list")
    assert listing.returncode == 0
    assert "Driftsleder Øst" in listing.stdout and "b2" in listing.stdout and token not in listing.stdout
    token_id = listing.stdout.split("\t", 1)[0]

    assert _cli(stack, "token", "revoke", token_id).returncode == 0
    with api.client(token) as fm:
        assert fm.get("/api/v1/buildings").status_code == 401
    assert "revoked" in _cli(stack, "token", "list").stdout
    assert _cli(stack, "token", "revoke", "424242").returncode == 1

    bad = _cli(stack, "token", "create", "--name", "x", "--role", "facility_manager", "--building", "nope")
    assert bad.returncode != 0 and "building_ids" in bad.stderr
