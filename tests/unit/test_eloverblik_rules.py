"""Rules of the 'eloverblik' source that need no server: when the nightly run is due, which meters can take DataHub's
interval data, reading a data access token's lifetime."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.config import Settings
from services.connectors.eloverblik.client import token_expiry
from services.connectors.eloverblik.source import EloverblikSource, meter_problem
from services.connectors.service import MeterRef

CPH = ZoneInfo("Europe/Copenhagen")


def _meter(mode: str = "interval", unit: str = "kWh", minutes: int | None = 60) -> MeterRef:
    return MeterRef("571313180100000001", "el-1", "b1", unit, mode, minutes, None, None)


def test_nightly_run_is_due_at_0330_local_the_day_after_the_last_run() -> None:
    src = EloverblikSource(Settings())
    assert src.cfg.run_at == time(3, 30)
    now = datetime(2026, 10, 24, 12, tzinfo=UTC)
    assert src.next_run(None, now, CPH) == now  # never ran: at once
    # ran at 03:30 on 24 October (CEST, 01:30Z): next at 03:30 on the 25th, which is CET again (02:30Z)
    last = datetime(2026, 10, 24, 3, 30, tzinfo=CPH)
    assert src.next_run(last, now, CPH) == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)
    # started by hand at 01:00 local: the same night's 03:30
    assert src.next_run(datetime(2026, 3, 29, 1, 0, tzinfo=CPH), now, CPH) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(("meter", "fragment"), [
    (_meter(), None),
    (_meter(minutes=15), None),
    (_meter(unit="MWh"), None),
    (_meter(mode="register"), "mode 'register'"),
    (_meter(unit="m3"), "unit 'm3'"),
    (_meter(minutes=1440), "interval_minutes 1440"),
    (_meter(minutes=None), "interval_minutes None"),
])
def test_which_meters_can_take_interval_kwh(meter: MeterRef, fragment: str | None) -> None:
    problem = meter_problem(meter)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None and fragment in problem and "'el-1'" in problem


def _jwt(claims: object) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{part}.c2ln"


def test_token_expiry_from_the_exp_claim() -> None:
    assert token_expiry(_jwt({"exp": 1796036400, "iat": 1795950000})) == 1796036400.0
    assert token_expiry(_jwt({"iat": 1})) is None
    assert token_expiry(_jwt({"exp": True})) is None
    assert token_expiry("not-a-jwt") is None
    assert token_expiry("a.%%%.c") is None


def test_problem_names_the_setting_and_never_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENERGIBLIK_SYNC__ELOVERBLIK__REFRESH_TOKEN", "ENERGIBLIK_SYNC__ELOVERBLIK__REFRESH_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    src = EloverblikSource(s)
    problem = src.problem(s)
    assert problem is not None and "ENERGIBLIK_SYNC__ELOVERBLIK__REFRESH_TOKEN" in problem
    s2 = Settings.model_validate({"sync": {"eloverblik": {"refresh_token": "secret-value"}}})
    assert src.problem(s2) is None
    s3 = Settings.model_validate({"sync": {"eloverblik": {"refresh_token_file": "/nonexistent/token"}}})
    p3 = src.problem(s3)
    assert p3 is not None and "/nonexistent/token" in p3
