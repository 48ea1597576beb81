"""Helpers for API tests: the running API's address, request bodies, token creation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Api:
    base_url: str
    admin_token: str
    log_path: Path
    metrics_url: str = ""  # the API's own Prometheus metrics (api/metrics.py)

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


def building_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Skovvejens Skole",
        "type": "school",
        "heated_area_m2": 5400.0,
        "heating": "district_heating",
    }
    return {**body, **overrides}


def meter_body(building_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"building_id": building_id, "carrier": "electricity", "unit": "kWh", "mode": "register"}
    return {**body, **overrides}


def luminaire_body(building_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"building_id": building_id, "technology": "fluorescent", "rated_power_w": 58.0}
    return {**body, **overrides}


def put_ok(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.put(path, json=body)
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


def make_token(admin: httpx.Client, role: str, building_ids: list[str] | None = None) -> str:
    body: dict[str, Any] = {"name": f"test {role}", "role": role}
    if building_ids is not None:
        body["building_ids"] = building_ids
    r = admin.post("/api/v1/tokens", json=body)
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token
