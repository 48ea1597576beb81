"""Edges every answer shares, over real HTTP: security headers, API answers never cached, a request-body limit
checked before the body is read, and error lists capped (api/hardening.py, api/errors.py)."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from tests.integration.api_helpers import Api, building_body

pytest_plugins = ["tests.integration.api_fixtures"]


def test_security_headers_on_api_dashboard_and_errors(api: Api, admin: httpx.Client) -> None:
    for r in (admin.get("/api/v1/me"), admin.get("/api/v1/buildings/nope"), admin.get("/dashboard/"),
              httpx.get(f"{api.base_url}/api/v1/me")):  # 200, 404, a static page, 401
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    # per-caller API answers are never stored by a proxy or the browser cache
    assert admin.get("/api/v1/me").headers["cache-control"] == "no-store"


def test_a_body_announced_larger_than_the_limit_is_413_before_it_is_read(api: Api) -> None:
    url = urlsplit(api.base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    # announces 1 GB and sends nothing: answered at once, not after waiting for (or reading) the body
    conn.putrequest("PUT", "/api/v1/buildings/b1")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(10**9))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and b"body" in r.read()
    conn.close()


def test_error_lists_are_capped(admin: httpx.Client) -> None:
    # 2,000 unknown keys: 50 errors named and one saying how many more, not 2,000
    body = {**building_body(), **{f"k{i}": 1 for i in range(2000)}}
    r = admin.put("/api/v1/buildings/b1", json=body)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert len(errors) == 51 and errors[-1]["message"].startswith("and 1950 more errors")
    assert len(r.content) < 20_000


def test_a_body_without_a_length_is_cut_off_at_the_limit(admin: httpx.Client) -> None:
    # chunked: no Content-Length to refuse up front; counted as it arrives and refused past 21 MiB
    chunk = b"building_id,carrier,month,kwh,source\n" + b"x" * (1024 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(23):
            yield chunk

    r = admin.post("/api/v1/imports/baseline", content=body(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 413, r.text
    assert "exceeds" in r.json()["detail"]
    # a small chunked body still goes through to the route (here: a CSV with a bad header, 422 naming it)
    r = admin.post("/api/v1/imports/baseline", content=iter([b"nope\n"]), headers={"Content-Type": "text/csv"})
    assert r.status_code == 422, r.text


def test_the_api_counts_and_times_its_answers_by_route_template(api: Api, admin: httpx.Client) -> None:
    def count(route: str, status: str) -> float:
        text = httpx.get(api.metrics_url, timeout=10).text
        for line in text.splitlines():
            if line.startswith("energiblik_api_requests_total{") and f'route="{route}"' in line \
                    and f'status="{status}"' in line and 'method="GET"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before_404 = count("/api/v1/buildings/{building_id}", "404")
    before_ok = count("/api/v1/me", "200")
    for i in range(3):
        assert admin.get(f"/api/v1/buildings/nosuch-{i}").status_code == 404
    assert admin.get("/api/v1/me").status_code == 200
    assert count("/api/v1/buildings/{building_id}", "404") == before_404 + 3  # one label, not one per id
    assert count("/api/v1/me", "200") == before_ok + 1
    text = httpx.get(api.metrics_url, timeout=10).text
    assert 'energiblik_api_request_duration_seconds_bucket{le="0.15",method="GET",route="/api/v1/me"}' in text
    assert "nosuch-1" not in text


def test_numbers_are_json_numbers_everywhere(admin: httpx.Client) -> None:
    # settings, targets, CO2 factors and adjustments are as strict as the registry: true and "0.25" are not numbers
    probes = [
        ("PUT", "/api/v1/settings/default-hot-water-share", {"a": "0.25", "source": "x"}, "a"),
        ("PUT", "/api/v1/settings/default-hot-water-share", {"a": True, "source": "x"}, "a"),
        ("PUT", "/api/v1/settings/normal-year", {"source": "x", "degree_days": [True] + [100] * 11},
         "degree_days.0"),
        ("PUT", "/api/v1/targets/T9", {"name": "x", "metric": "energy_kwh", "baseline_year": "2015",
                                       "target_year": 2030, "reduction_pct": 20}, "baseline_year"),
        ("PUT", "/api/v1/targets/T9", {"name": "x", "metric": "energy_kwh", "baseline_year": 2015,
                                       "target_year": 2030, "reduction_pct": True}, "reduction_pct"),
        ("POST", "/api/v1/co2-factors", {"carrier": "electricity", "year": 2024, "kg_per_kwh": "0.1",
                                         "method": "m", "source": "s"}, "kg_per_kwh"),
    ]
    for method, path, body, field in probes:
        r = admin.request(method, path, json=body)
        assert r.status_code == 422, (path, body, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (path, r.json())
    # real numbers still go through
    ok = admin.put("/api/v1/settings/default-hot-water-share", json={"a": 0.3, "source": "x"})
    assert ok.status_code == 200 and ok.json()["a"] == 0.3


def test_a_body_that_is_not_utf8_json_is_a_422_naming_the_body(admin: httpx.Client) -> None:
    r = admin.put("/api/v1/settings/normal-year", content=b".|\xff\xfeR", headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"field": "body", "message": "the body is not valid JSON in UTF-8"}]


def test_a_registry_file_over_the_row_cap_is_refused_before_any_work(admin: httpx.Client) -> None:
    from api.imports import MAX_REGISTRY_ROWS

    body = "id,name,type,heated_area_m2,heating\n" + "".join(
        f"b{i},B {i},school,100,district_heating\n" for i in range(MAX_REGISTRY_ROWS + 1))
    r = admin.post("/api/v1/imports/registry/buildings", content=body.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 413 and "split it" in r.json()["detail"]
    assert admin.get("/api/v1/buildings").json() == []
