"""The strict wire parser and the pipeline's per-message work, without broker or database: every payload of the
nasty corpus gets its reason and raises nothing; valid forms the contract allows still pass."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.ingestion import schemas as wire
from services.ingestion.schemas import RawMessage
from services.ingestion.service import (
    BatchStats,
    IngestPipeline,
    InternalErrorGuard,
    InternalErrorLimit,
    LuminaireInfo,
    MeterInfo,
    _Built,
)
from services.readings.units import Unit
from tests.corpus import corpus

NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)
TOPICS = {
    "meter": "energiblik/v1/buildings/B1/meters/M1/readings",
    "luminaire": "energiblik/v1/buildings/B1/luminaires/L1/telemetry",
    "wmbus": "energiblik/v1/buildings/B1/wmbus/heat",
}


def pipeline() -> IngestPipeline:
    p = IngestPipeline("energiblik/v1")
    m1 = MeterInfo("M1", 1, "B1", Unit.KWH, None, 1.0)
    h1 = MeterInfo("H1", 2, "B1", Unit.MWH, "67676767", 1000.0)
    ev = MeterInfo("EV1", 4, "B1", Unit.KWH, None, 1.0, interval=True)
    p.registry.meters = {"M1": m1, "H1": h1, "EV1": ev}
    p.registry.by_external = {"67676767": h1}
    p.registry.luminaires = {"L1": LuminaireInfo("L1", 3, "B1")}
    return p


def outcome(p: IngestPipeline, kind: str, payload: bytes, now: datetime = NOW) -> _Built | str:
    """What the pipeline makes of one message before the database: its rows, or the dead letter's reason."""
    msg = RawMessage(TOPICS[kind], payload, now)
    route = p._route(msg)
    if isinstance(route, str):
        return route
    d = p._decode(msg, *route)
    if isinstance(d, str):
        return d
    built = p._build(d)
    if isinstance(built, str):
        return built
    if built.errors:
        return "; ".join(built.errors)
    return built


@pytest.mark.parametrize(("name", "kind", "payload", "expect"), corpus(), ids=[c[0] for c in corpus()])
def test_every_nasty_payload_gets_its_reason(name: str, kind: str, payload: bytes, expect: str) -> None:
    got = outcome(pipeline(), kind, payload, datetime.now(UTC))
    assert isinstance(got, str), f"{name}: accepted as {got!r}"
    assert expect in got, f"{name}: reason {got!r} lacks {expect!r}"
    assert "internal error" not in got


@pytest.mark.parametrize(("ts", "expect"), [
    ("2026-02-01T10:00:00+01:00", datetime(2026, 2, 1, 9, tzinfo=UTC)),
    ("2026-02-01T09:00:00Z", datetime(2026, 2, 1, 9, tzinfo=UTC)),
    ("2026-02-01t09:00:00z", datetime(2026, 2, 1, 9, tzinfo=UTC)),  # RFC 3339 allows lower case
    ("2026-02-01T09:00:00-00:00", datetime(2026, 2, 1, 9, tzinfo=UTC)),
    ("2026-02-01T09:00:00.123456789Z", datetime(2026, 2, 1, 9, 0, 0, 123456, tzinfo=UTC)),
    ("2026-02-01T10:30:00+01:30", datetime(2026, 2, 1, 9, tzinfo=UTC)),
    # offsets RFC 3339 allows beyond what PostgreSQL holds (±15:59): the same instant, kept in UTC
    ("2026-02-02T08:59:00+23:59", datetime(2026, 2, 1, 9, tzinfo=UTC)),
    ("2026-01-31T17:00:00-16:00", datetime(2026, 2, 1, 9, tzinfo=UTC)),
])
def test_rfc3339_forms_the_contract_allows(ts: str, expect: datetime) -> None:
    got = wire.parse_ts(ts)
    assert got == expect and got.utcoffset() is not None


def test_valid_readings_convert_and_keep_unknown_fields_out() -> None:
    p = pipeline()
    built = outcome(p, "meter", b'[{"ts":"2026-02-01T10:00:00+01:00","value":2,"unit":"MWh","note":{"x":[1,2]}},'
                                b'{"ts":"2026-02-01T10:15:00+01:00","value":2500.5,"quality":"estimated"}]')
    assert isinstance(built, _Built)
    assert [(r[2], r[3]) for r in built.rows] == [(2000.0, "measured"), (2500.5, "estimated")]
    assert built.rows[0][1] == datetime(2026, 2, 1, 9, tzinfo=UTC)


def test_bounds_are_judged_after_unit_conversion() -> None:
    p = pipeline()
    # 1e8 MWh = 1e11 kWh is the limit; a hair above it is refused, in MWh or in kWh
    assert isinstance(outcome(p, "meter", b'{"ts":"2026-02-01T10:00:00Z","value":1e8,"unit":"MWh"}'), _Built)
    assert "plausible range" in str(outcome(p, "meter", b'{"ts":"2026-02-01T10:00:00Z","value":1.01e8,"unit":"MWh"}'))
    assert "plausible range" in str(outcome(p, "meter", b'{"ts":"2026-02-01T10:00:00Z","value":1.01e11}'))
    # the wmbus heat meter registers in MWh: its bound is 1e8 MWh whatever unit the telegram uses
    assert isinstance(outcome(p, "wmbus", b'{"id":"67676767","timestamp":"2026-02-01T10:00:00Z",'
                                          b'"total_energy_consumption_kwh":5e10}'), _Built)


def test_a_batch_keeps_its_good_items_and_names_the_bad_by_position() -> None:
    p = pipeline()
    msg = RawMessage(TOPICS["meter"], b'[{"ts":"2026-02-01T10:00:00Z","value":1},{"ts":"2026-02-01T10:15:00Z",'
                                      b'"value":1e300,"unit":"GJ"},{"ts":"0001-01-01T00:00:00Z","value":3}]', NOW)
    d = p._decode(msg, "meter", "B1", "M1")
    assert not isinstance(d, str)
    built = p._build(d)
    assert isinstance(built, _Built)
    assert [r[2] for r in built.rows] == [1.0]
    assert built.errors[0].startswith("item 1: value:") and built.errors[1].startswith("item 2: ts:")


def test_heat_fields_outside_their_range_are_left_out_but_the_register_is_kept() -> None:
    built = outcome(pipeline(), "wmbus", b'{"id":"67676767","timestamp":"2026-02-01T10:00:00Z","total_m3":5,'
                                         b'"total_energy_consumption_kwh":5000,"t1_temperature_c":1e300,'
                                         b'"t2_temperature_c":40.5,"power_kw":"x"}')
    assert isinstance(built, _Built)
    assert [r[2] for r in built.rows] == [5.0]  # 5000 kWh in the meter's MWh
    assert built.heat == [(2, datetime(2026, 2, 1, 10, tzinfo=UTC), None, 40.5, None, None)]


def test_an_interval_meter_never_reports_a_negative_quantity() -> None:
    p = pipeline()
    msg = RawMessage("energiblik/v1/buildings/B1/meters/EV1/readings",
                     b'[{"ts":"2026-02-01T10:00:00Z","value":-500},{"ts":"2026-02-01T11:00:00Z","value":0},'
                     b'{"ts":"2026-02-01T12:00:00Z","value":7.5}]', NOW)
    d = p._decode(msg, "meter", "B1", "EV1")
    assert not isinstance(d, str)
    built = p._build(d)
    assert isinstance(built, _Built)
    assert [r[2] for r in built.rows] == [0.0, 7.5]
    assert built.errors == ["item 0: value: -500 kWh is negative; an interval meter reports what was used in the "
                            "interval"]
    # a register may stand below zero (a decrease is the consumption engine's to judge)
    assert isinstance(outcome(p, "meter", b'{"ts":"2026-02-01T10:00:00Z","value":-500}'), _Built)


def test_the_registered_building_is_checked() -> None:
    p = pipeline()
    msg = RawMessage("energiblik/v1/buildings/B2/meters/M1/readings", b'{"ts":"2026-02-01T10:00:00Z","value":1}',
                     NOW)
    d = p._decode(msg, "meter", "B2", "M1")
    assert not isinstance(d, str)
    assert "registered in building 'B1'" in str(p._build(d))


def test_duplicate_keys_are_found_with_and_without_escapes() -> None:
    for payload in (b'{"a":1,"a":1}', b'{"a":{"b":":","b":":"}}', b'[{"x":"a:b"},{"x":"c","x":"d"}]',
                    b'{"k\\"":1,"k\\"":2}', b'{"\\u003a":1,":":2}'):
        with pytest.raises(wire.WireError, match="duplicate key"):
            wire.parse_json(payload)
    for payload in (b'{"a":"x:y:z","b":{"c":":"}}', b'{"a\\"b":"c:d"}', b'[{"a":1},{"a":2}]'):
        wire.parse_json(payload)


def test_an_unexpected_exception_is_that_message_s_dead_letter_not_the_batch_s(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    """The boundary itself, without a database: _build raising for one message rejects only that message."""
    from services.ingestion import service

    p = pipeline()
    real = IngestPipeline._build

    def flaky(self: IngestPipeline, d: service._Decoded) -> _Built | str:
        if d.items and d.items[0][1] == 13:
            raise ZeroDivisionError("unlucky")
        return real(self, d)

    monkeypatch.setattr(IngestPipeline, "_build", flaky)
    b = service._Batch(BatchStats(messages=2))
    for payload in (b'{"ts":"2026-02-01T10:00:00Z","value":13}', b'{"ts":"2026-02-01T10:15:00Z","value":14}'):
        msg = RawMessage(TOPICS["meter"], payload, NOW)
        d = p._decode(msg, "meter", "B1", "M1")
        assert not isinstance(d, str)
        try:
            built = p._build(d)
        except Exception as exc:
            b.internal(msg, exc, "B1", "M1")
            continue
        assert isinstance(built, _Built)
        b.take(d, built)
    assert [r[2] for r in b.rows] == [14.0]
    assert [r[2] for r in b.dead] == ["internal error: ZeroDivisionError: unlucky"]
    assert b.stats.internal_errors == 1


def test_the_guard_trips_on_a_share_of_recent_messages_not_on_a_few_poison_ones() -> None:
    g = InternalErrorGuard(window=100, share=0.5, min_errors=10)
    for _ in range(50):  # one poison message in every batch of ten: 10 %
        g.check(BatchStats(messages=10, internal_errors=1))
    g.check(BatchStats(messages=10, internal_errors=4))
    with pytest.raises(InternalErrorLimit):
        for _ in range(10):
            g.check(BatchStats(messages=10, internal_errors=10))  # a bad deploy: everything fails
    # the batch that tripped it was not counted: the guard trips again on the same batch
    with pytest.raises(InternalErrorLimit):
        g.check(BatchStats(messages=10, internal_errors=10))


def test_offsets_print_in_iso_form() -> None:
    ts = datetime(2026, 2, 1, 10, tzinfo=timezone(timedelta(hours=1)))
    assert wire.parse_ts(ts.isoformat()) == ts
