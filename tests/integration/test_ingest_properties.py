"""Property-based proof of the ingest failure boundary (issue 11), through the real pipeline, TimescaleDB and rollups.

hypothesis generates batches of messages over all three topic kinds: arbitrary bytes, arbitrary JSON, and near-valid
JSON (wire-contract messages with fields mutated: wrong types, missing, null, extreme numbers, extreme or malformed
dates, duplicate keys, units), on registered, unknown, other buildings' and invalid topics. For every batch:
`handle_batch` raises nothing, every message has exactly one outcome and the dead-letter and quarantine rows match
them, nothing is an internal error (a payload the parser should have refused with a reason) or reaches a database
CHECK, nothing stored is non-finite or implausible; then the rollups raise nothing, record no processing error and
every amount is finite. Each example runs in a transaction that is rolled back, so examples start from the same
registry and no data. A last test sends hypothesis's payloads through a real worker process over Mosquitto.

Reproducible by default (`derandomize`). To look for new failures, run with another seed and more examples:
`ENERGIBLIK_PROPERTY_SEED=7 ENERGIBLIK_PROPERTY_SCALE=5 bash deploy/test.sh tests/integration/test_ingest_properties.py`
(with the ports of your stack exported).
Every payload it ever finds goes into tests/corpus.py with the reason it must get.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, Phase, event, given, note, seed, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from services.config import IngestSettings
from services.consumption.service import process_dirty
from services.db import libpq_dsn
from services.ingestion import schemas as wire
from services.ingestion.schemas import RawMessage
from services.ingestion.service import (
    OUTCOMES,
    WMBUS_HEAT_FIELDS,
    WMBUS_REGISTER_FIELDS,
    BatchStats,
    IngestPipeline,
    sweep_quarantine,
)
from services.readings.units import Unit, base_factor
from tests.integration.harness import PREFIX, Workers, building_publisher, scalar, sync_broker, wait_for
from tests.stack import Stack

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime.now(UTC).replace(microsecond=0)
# The worker's defaults (IngestSettings), given to the in-process pipeline too: the window and the plausibility bound.
EARLIEST = IngestSettings().earliest_ts
MAX_ABS_KWH_OR_M3 = IngestSettings().max_abs_value

# -- reproducibility and budget -------------------------------------------------------------------------------------

_SEED = os.environ.get("ENERGIBLIK_PROPERTY_SEED")
_SCALE = float(os.environ.get("ENERGIBLIK_PROPERTY_SCALE", "1"))
F = TypeVar("F", bound=Callable[..., Any])


def budget(examples: int, shrink: bool = True) -> Callable[[F], F]:
    """Fixed and reproducible in CI (derandomize); another seed and more examples when exploring."""
    phases = [Phase.explicit, Phase.generate, *([Phase.shrink] if shrink else [])]
    s = settings(max_examples=max(1, round(examples * _SCALE)), deadline=None, derandomize=_SEED is None,
                 database=None, print_blob=True, phases=phases,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large, HealthCheck.filter_too_much])

    def deco(f: F) -> F:
        f = s(f)
        return seed(int(_SEED))(f) if _SEED is not None else f

    return deco


# -- the estate the messages are sent to ----------------------------------------------------------------------------

# (id, building, carrier, unit, mode, interval_minutes, external_id)
METERS = [
    ("M1", "B1", "electricity", "kWh", "register", None, None),
    ("M2", "B1", "district_heating", "MWh", "register", None, None),
    ("G1", "B1", "natural_gas", "m3", "register", None, None),  # default kWh per m3
    ("W1", "B1", "water", "l", "register", None, None),
    ("I1", "B1", "electricity", "kWh", "interval", 15, None),
    ("H1", "B1", "district_heating", "GJ", "register", None, "67676767"),  # wmbus heat meter
    ("V1", "B1", "water", "m3", "register", None, "55555555"),  # wmbus water meter
    ("S1", "B1", "electricity", "kWh", "register", None, None),  # sentinel traffic of the MQTT test only
    ("X1", "B2", "electricity", "Wh", "register", None, None),
    ("X2", "B2", "district_heating", "kWh", "register", None, "12121212"),
]
B1_METERS = [m[0] for m in METERS if m[1] == "B1" and m[0] != "S1"]
UNITS = {m[0]: Unit(m[3]) for m in METERS}
LUMINAIRES = [("L1", "B1"), ("L2", "B2")]
WMBUS_IDS = ["67676767", "55555555", "12121212"]


def register_estate(engine: Engine) -> None:
    with engine.begin() as c:
        for b in ("B1", "B2"):
            c.execute(text("INSERT INTO buildings (id, name, type, heated_area_m2, heating) "
                           "VALUES (:id, :id, 'school', 1000, 'district_heating')"), {"id": b})
        for mid, bid, carrier, unit, mode, interval, ext in METERS:
            c.execute(text("INSERT INTO meters (id, building_id, carrier, unit, mode, interval_minutes, external_id) "
                           "VALUES (:id, :b, :c, :u, :m, :i, :e)"),
                      {"id": mid, "b": bid, "c": carrier, "u": unit, "m": mode, "i": interval, "e": ext})
        for lid, bid in LUMINAIRES:
            c.execute(text("INSERT INTO luminaires (id, building_id, technology, rated_power_w) "
                           "VALUES (:id, :b, 'led', 18)"), {"id": lid, "b": bid})


def topic(building: str, kind: str, device: str) -> str:
    if kind == "meter":
        return f"{PREFIX}/buildings/{building}/meters/{device}/readings"
    if kind == "luminaire":
        return f"{PREFIX}/buildings/{building}/luminaires/{device}/telemetry"
    return f"{PREFIX}/buildings/{building}/wmbus/{device}"


# -- JSON tokens ----------------------------------------------------------------------------------------------------
# Near-valid payloads are written as text, token by token, so that they can hold what a Python dict cannot:
# duplicate keys, NaN, 1e400, 400-digit integers, lone surrogate escapes.

def jstr(s: str) -> str:
    return json.dumps(s)


def obj(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"


json_scalars = (st.none() | st.booleans() | st.floats() | st.integers()
                | st.integers(min_value=-(10**400), max_value=10**400) | st.text(max_size=20))
def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)


json_values = st.recursive(json_scalars, containers, max_leaves=12)


json_values_finite = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**63), 2**63)
    | st.text(max_size=20),
    containers, max_leaves=12)


@st.composite
def json_text(draw: st.DrawFn, values: st.SearchStrategy[Any] = json_values) -> str:
    """Any JSON value as text: NaN/Infinity included (json.dumps writes them), ASCII-escaped or raw UTF-8."""
    return json.dumps(draw(values), ensure_ascii=draw(st.booleans()), allow_nan=True)


# Numbers JSON allows (finite doubles, integers up to 2**64 exact and beyond as doubles): the bounds must refuse them.
FINITE_NUMBERS = [
    "1e308", "-1e308", "5e-324", "-5e-324", "1.7976931348623157e308", "-1.7976931348623157e308",
    "2.2250738585072014e-308", "1e-400", str(2**63), str(2**63 - 1), str(-(2**63)), str(-(2**63) - 1), str(2**64),
    str(2**64 - 1), str(2**64 + 1), "9" * 300, "0", "-0", "0.0", "-0.0", "1E2", "1e11", "1.0000001e11", "-1e11",
    "1e8", "1.0000001e8", "3.6e8", "3.600001e8", "1e14", "1.0000001e14", "1e15", "1e16", "1e6", "1000001", "100",
    "100.0000001", "-1", "-1e-300", "1e306", "-1e306",
]
# Text that is not JSON, or numbers that are not finite doubles: the parser must refuse the whole message.
NOT_JSON = ["1e400", "-1e400", "9" * 400, "-" + "9" * 400, "NaN", "-NaN", "Infinity", "-Infinity", "nan", "inf",
            "+1", ".5", "5.", "01", "0x10", "1_000", "1e", "--1", '"\\ud800"', '"\\udfff\\ud800"', "'5'", "undefined"]
WRONG_TYPES = [
    "true", "false", "null", "[]", "{}", "[5]", '{"value":5}', '""', '"5"', '"1e308"', '"NaN"', '" 5 "',
    jstr("9" * 400), jstr("x" * 2000), "[" * 300 + "]" * 300, '"\\u0000"', '"\\\\"',
]
finite_numbers = st.one_of(
    st.sampled_from(FINITE_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(2**64), 2**64).map(str),
)
numbers_any = st.one_of(finite_numbers, st.sampled_from(NOT_JSON),
                        st.integers(min_value=-(10**400), max_value=10**400).map(str))
# Mostly valid JSON of the wrong type or out of bounds, so that the checks after parsing are reached.
mutants = st.one_of(finite_numbers, finite_numbers, st.sampled_from(WRONG_TYPES), st.sampled_from(WRONG_TYPES),
                    st.text(max_size=30).map(jstr), json_text(json_values_finite),
                    st.sampled_from(NOT_JSON), json_text())


def plausible(lo: float, hi: float) -> st.SearchStrategy[str]:
    return st.one_of(st.floats(lo, hi).map(repr), st.integers(math.ceil(lo), math.floor(hi)).map(str),
                     st.sampled_from([repr(lo), repr(hi)]))


# -- timestamps -----------------------------------------------------------------------------------------------------

VALID_OFFSETS = ["Z", "Z", "z", "+00:00", "-00:00", "+01:00", "+02:00", "-05:00", "+05:30", "+23:59", "-23:59"]
BAD_OFFSETS = ["+0100", "+01", "", "+24:00", "-24:00", "+01:60", " Z", "UTC", "+1:00"]


def _offset_delta(offset: str) -> timedelta:
    if len(offset) == 6 and offset[0] in "+-" and offset[3] == ":" and offset[1:3].isdigit() and offset[4:].isdigit():
        sign = 1 if offset[0] == "+" else -1
        return sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:]))
    return timedelta(0)


FULLWIDTH_YEAR = json.dumps("\uff12\uff10\uff12\uff16-02-01T10:00:00Z", ensure_ascii=False)  # digits, not ASCII


@st.composite
def rfc3339(draw: st.DrawFn, utc: st.SearchStrategy[datetime], offsets: list[str], seps: str = "Tt",
            max_digits: int = 9, leap: bool = False) -> str:
    """A moment written as RFC 3339 text in one of the given offsets and separators (JSON string token)."""
    moment = draw(utc)
    offset = draw(st.sampled_from(offsets))
    local = moment.replace(tzinfo=None) + _offset_delta(offset)
    sep = draw(st.sampled_from(seps))
    seconds = 60 if leap and draw(st.integers(0, 4)) == 0 else local.second
    digits = draw(st.integers(0, max_digits))
    frac = "." + draw(st.text(alphabet="0123456789", min_size=digits, max_size=digits)) if digits else ""
    return jstr(f"{local.year:04d}-{local:%m-%d}{sep}{local:%H:%M}:{seconds:02d}{frac}{offset}")


def _near(lo: timedelta, hi: timedelta) -> st.SearchStrategy[datetime]:
    return st.integers(int(lo.total_seconds()) // 60, int(hi.total_seconds()) // 60).map(
        lambda m: NOW + timedelta(minutes=m))


# Valid: inside the accepted window (2000 .. a day after receipt), any RFC 3339 form the contract allows.
# On a coarse grid of hours now and then, so that examples revise and repeat readings.
valid_ts = st.one_of(
    rfc3339(_near(timedelta(days=-10), timedelta(hours=12)), VALID_OFFSETS),
    rfc3339(st.integers(-72, 0).map(lambda h: NOW.replace(minute=0, second=0) + timedelta(hours=h)), VALID_OFFSETS,
            max_digits=0),
)
# Mutants: the window's edges, years 1..9999, offset-less and +0100 forms, spaces, 10-12 fraction digits, leap
# seconds, impossible dates, numbers and other JSON.
bad_ts = st.one_of(
    rfc3339(st.sampled_from([EARLIEST, NOW + timedelta(days=1)]).flatmap(
        lambda t: st.integers(-7200, 7200).map(lambda s: t + timedelta(seconds=s))), VALID_OFFSETS + BAD_OFFSETS,
        "Tt _", 12, leap=True),
    rfc3339(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.replace(tzinfo=UTC)), VALID_OFFSETS + BAD_OFFSETS, "Tt _", 12, leap=True),
    rfc3339(_near(timedelta(days=-60), timedelta(days=2)), VALID_OFFSETS + BAD_OFFSETS, "Tt _", 12, leap=True),
    st.sampled_from(['"1"', "1700000000", '"1700000000"', '"2026-02-01"', '"2026-W05-7T10:00:00Z"',
                     '"20260201T100000Z"', '"2026-02-01T10:00Z"', '"2026-02-30T10:00:00Z"', '"2026-13-01T10:00:00Z"',
                     '"2026-02-01T24:00:00Z"', '"2026-02-01T10:00:00.Z"', '"0000-01-01T00:00:00Z"',
                     '"-0001-01-01T00:00:00Z"', '"+10000-01-01T00:00:00Z"', '"0001-01-01T00:00:00+23:59"',
                     '"9999-12-31T23:59:59-23:59"', '"\\uff12\\uff10\\uff12\\uff16-02-01T10:00:00Z"', FULLWIDTH_YEAR,
                     '"2026-02-01T10:00:00+01:00\\u0000"', '"2026-02-01T10:00:00+01:00 "', '""']),
)


# -- near-valid messages --------------------------------------------------------------------------------------------

Field = tuple[str, st.SearchStrategy[str], st.SearchStrategy[str], bool]  # name, valid tokens, mutants, required


@st.composite
def near_valid_object(draw: st.DrawFn, spec: list[Field], extras: list[tuple[str, st.SearchStrategy[str]]]) -> str:
    """A wire-contract object as JSON text: two in three exactly valid; the others mostly with one field mutated
    (a wrong type, missing, null, out of bounds), else several, a duplicate key (raw or escaped) or an unknown field
    holding any JSON. Valid optional fields and unknown ones come and go; keys in any order."""
    how = draw(st.sampled_from(["valid", "valid", "one", "one", "one", "several", "duplicate", "unknown"]))
    names = [f[0] for f in spec]
    if how == "one":
        chosen = {draw(st.sampled_from(names))}
    elif how == "several":
        chosen = draw(st.sets(st.sampled_from(names), min_size=2))
    else:
        chosen = set()
    pairs: list[tuple[str, str]] = []
    for name, valid, bad, required in spec:
        if name in chosen:
            change = draw(st.sampled_from(["bad", "bad", "bad", "bad", "any", "missing", "null"]))
            if change == "missing":
                continue
            token = {"null": "null", "any": None, "bad": None}[change]
            if token is None:
                token = draw(mutants if change == "any" else st.one_of(bad, mutants) if bad.is_empty else bad)
            pairs.append((jstr(name), token))
        elif required or draw(st.booleans()):
            pairs.append((jstr(name), draw(valid)))
    for name, values in extras:
        if draw(st.integers(0, 3)) == 0:
            pairs.append((jstr(name), draw(values)))
    if how == "duplicate" and pairs:
        for _ in range(draw(st.integers(1, 2))):
            k = draw(st.sampled_from([p[0] for p in pairs]))
            dup = draw(st.sampled_from(["same", "other", "escaped"]))
            if dup == "escaped":  # "\u0074s" is "ts": only a parser that reads escapes sees the duplicate
                k = '"' + "".join(f"\\u{ord(ch):04x}" for ch in json.loads(k)) + '"'
            pairs.append((k, dict(pairs)[k] if dup == "same" and k in dict(pairs) else draw(mutants)))
    if how == "unknown":
        pairs.append((draw(st.text(max_size=10).map(jstr)),
                      draw(st.one_of(json_text(json_values_finite), json_text(json_values_finite), json_text()))))
    return obj(draw(st.permutations(pairs)))


UNIT_SPELLINGS = {Unit.KWH: ["kWh", "KWH", " kwh "], Unit.MWH: ["MWh", "mwh"], Unit.GJ: ["GJ"], Unit.WH: ["Wh"],
                  Unit.MJ: ["MJ"], Unit.M3: ["m3", "m³"], Unit.L: ["l", "litre", "liter"]}
bad_units = st.one_of(st.sampled_from([s for v in UNIT_SPELLINGS.values() for s in v]).map(jstr),
                      st.sampled_from(['"furlong"', '""', '"kWh\\u0000"', '"k\\u0057h"', '"kW h"', '"kWh/h"']))
quality_tokens = st.sampled_from([jstr(q.value) for q in wire.Quality])
bad_quality = st.sampled_from(['"guessed"', '"MEASURED"', '"measured "', "1"])
bool_tokens = st.sampled_from(["true", "false"])
no_mutants = st.nothing()


def units_for(unit: Unit | None) -> st.SearchStrategy[str]:
    """Unit spellings a meter with this register unit accepts (same dimension)."""
    if unit is None:
        return st.sampled_from(UNIT_SPELLINGS[Unit.KWH]).map(jstr)
    same = [u for u in Unit if (u in (Unit.M3, Unit.L)) == (unit in (Unit.M3, Unit.L))]
    return st.sampled_from([s for u in same for s in UNIT_SPELLINGS[u]]).map(jstr)


def reading_spec(unit: Unit | None) -> list[Field]:
    return [
        ("ts", valid_ts, bad_ts, True),
        ("value", st.one_of(plausible(0, 1e6), plausible(0, 1e6), plausible(-1e6, 1e6)), finite_numbers, True),
        ("unit", units_for(unit), bad_units, False),
        ("quality", quality_tokens, bad_quality, False),
    ]


TELEMETRY: list[Field] = [
    ("ts", valid_ts, bad_ts, True),
    ("power_w", plausible(0, wire.MAX_LUMINAIRE_W), plausible(-1e9, 1e9), False),
    ("energy_wh", plausible(0, wire.MAX_ENERGY_WH), plausible(-1e16, 1e16), False),
    ("dim_pct", plausible(0, 100), plausible(-1000, 1000), False),
    ("on", bool_tokens, no_mutants, False),
    ("burn_hours", plausible(0, wire.MAX_BURN_HOURS), plausible(-1e9, 1e9), False),
    ("failure", bool_tokens, no_mutants, False),
]
bad_wmbus_ids = st.one_of(st.sampled_from(['"a b"', '"6767\\u00006767"', jstr("7" * 65), '"ü"', '""', "67676767"]),
                          st.from_regex(r"[0-9]{8}", fullmatch=True).map(jstr))  # unknown: quarantine


def wmbus_spec(ident: str, registers: list[str]) -> list[Field]:
    return [
        ("id", st.just(jstr(ident)), bad_wmbus_ids, True),
        ("timestamp", valid_ts, bad_ts, True),
        *[(name, plausible(0, 1e6), plausible(-1e13, 1e13), i == 0) for i, name in enumerate(registers)],
        *[(name, plausible(lo, hi), plausible(lo * 10, hi * 10), False) for name, lo, hi in WMBUS_HEAT_FIELDS],
    ]


ENERGY_REGISTERS = [name for name, unit in WMBUS_REGISTER_FIELDS if unit not in (Unit.M3, Unit.L)]
VOLUME_REGISTERS = [name for name, unit in WMBUS_REGISTER_FIELDS if unit in (Unit.M3, Unit.L)]
WMBUS_EXTRAS = [("_", st.just('"telegram"')), ("media", st.just('"heat"')), ("meter", st.just('"kamheat"')),
                ("name", st.just('"heat"')), ("status", st.sampled_from(['"OK"', '"ERROR"', "null"]))]
EXTRAS = [("note", json_text(json_values_finite)), ("meta", st.just('{"a":1,"b":"x:y","c":{"d":[1,2,{}]}}'))]

telemetry_objects = near_valid_object(TELEMETRY, EXTRAS)
wmbus_objects = st.one_of(
    near_valid_object(wmbus_spec("67676767", ENERGY_REGISTERS), WMBUS_EXTRAS),  # heat meter H1 (GJ)
    near_valid_object(wmbus_spec("67676767", ENERGY_REGISTERS), WMBUS_EXTRAS),
    near_valid_object(wmbus_spec("55555555", VOLUME_REGISTERS), WMBUS_EXTRAS),  # water meter V1 (m3)
    near_valid_object(wmbus_spec("12121212", ENERGY_REGISTERS), WMBUS_EXTRAS),  # registered in B2
    st.from_regex(r"[0-9]{8}", fullmatch=True).flatmap(  # not registered: quarantine
        lambda i: near_valid_object(wmbus_spec(i, ENERGY_REGISTERS), WMBUS_EXTRAS)),
    near_valid_object(wmbus_spec("67676767", VOLUME_REGISTERS), WMBUS_EXTRAS),  # a volume for a heat meter
)
TOO_MANY = "[" + ",".join(["{}"] * 10_001) + "]"  # more readings than a message may hold, within the byte limit


def arrays(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(items, min_size=1, max_size=6).map(lambda xs: "[" + ",".join(xs) + "]")


@st.composite
def near_valid(draw: st.DrawFn, kind: str, unit: Unit | None = None) -> str:
    """Near-valid JSON text for a topic kind: an object (or an array of them; now and then an empty one or one over
    the limit); a meter's readings in units its register accepts when valid."""
    if kind == "meter":
        items = near_valid_object(reading_spec(unit), EXTRAS)
    elif kind == "luminaire":
        items = telemetry_objects
    else:
        items = wmbus_objects
    shape = draw(st.integers(0, 19))
    if shape < 11 or (kind == "wmbus" and shape < 17):
        return draw(items)
    if shape < 19:
        return draw(arrays(items))
    return draw(st.sampled_from(["[]", TOO_MANY] if kind == "meter" else ["[]"]))


# -- topics ---------------------------------------------------------------------------------------------------------

ids = st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True)
BAD_IDS = ["", " ", "M 1", "Mé", "M+1", "M#1", "x" * 65, "M1/", "..", "M\u00001"]


def topics(kind: str) -> st.SearchStrategy[str]:
    """Registered devices mostly; unknown ones (quarantine); another building's (dead letter); invalid topics."""
    registered = {"meter": B1_METERS, "luminaire": ["L1"], "wmbus": ["heat", "water", "gw-1"]}[kind]
    other = {"meter": [topic("B2", "meter", "M1"), topic("B1", "meter", "X1"), topic("B3", "meter", "M1")],
             "luminaire": [topic("B2", "luminaire", "L1"), topic("B1", "luminaire", "L2")],
             "wmbus": [topic("B2", "wmbus", "heat"), topic("B3", "wmbus", "heat")]}[kind]
    mine = st.sampled_from([topic("B1", kind, d) for d in registered])
    return st.one_of(
        mine, mine, mine, mine, mine, mine, mine, mine,
        ids.map(lambda d: topic("B1", kind, d)),
        st.sampled_from(other),
        st.sampled_from([topic("B1", kind, d) for d in BAD_IDS] + [topic(b, kind, "M1") for b in BAD_IDS]),
    )


invalid_topics = st.one_of(
    st.text(max_size=60),
    st.sampled_from([f"{PREFIX}/buildings/B1/meters/M1/values", f"{PREFIX}/buildings/B1/meters/M1",
                     f"{PREFIX}/buildings/B1/meters/M1/readings/", f"{PREFIX}//buildings/B1/meters/M1/readings",
                     "energiblik/v2/buildings/B1/meters/M1/readings", f"/{PREFIX}/buildings/B1/meters/M1/readings",
                     f"{PREFIX}/buildings/B1/wmbus", f"{PREFIX}/buildings/B1/luminaires/L1/readings",
                     f"{PREFIX}/buildings", f"{PREFIX}/buildings/B1", "", "/", "#", "$SYS/x"]),
    st.text(max_size=30).map(lambda s: f"{PREFIX}/buildings/B1/{s}"),
)

# -- payloads of every kind -----------------------------------------------------------------------------------------


@st.composite
def flipped(draw: st.DrawFn, payloads: st.SearchStrategy[str]) -> bytes:
    """A near-valid payload with a few bytes changed, cut short or extended."""
    b = bytearray(draw(payloads).encode())
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, max(len(b) - 1, 0)))
        how = draw(st.sampled_from(["set", "cut", "insert"]))
        if how == "set" and b:
            b[i] = draw(st.integers(0, 255))
        elif how == "cut":
            del b[i:]
        else:
            b[i:i] = draw(st.binary(min_size=1, max_size=4))
    return bytes(b)


Payload = Callable[[str, Unit | None], st.SearchStrategy[bytes]]  # (topic kind, meter unit) -> payloads


def arbitrary_json_payload(kind: str, unit: Unit | None = None) -> st.SearchStrategy[bytes]:
    """Any JSON document, and objects with the contract's keys holding any JSON value."""
    names = {"meter": ["ts", "value", "unit", "quality"], "luminaire": [f[0] for f in TELEMETRY],
             "wmbus": ["id", "timestamp", WMBUS_REGISTER_FIELDS[0][0], "t1_temperature_c"]}[kind]
    keyed = st.fixed_dictionaries({}, optional=dict.fromkeys(names, json_values))
    doc = st.one_of(json_values, keyed, st.lists(keyed, min_size=1, max_size=4))
    return json_text(doc).map(str.encode) | st.integers(0, 300).map(lambda n: ("[" * n + "]" * n).encode())


def arbitrary_bytes_payload(kind: str, unit: Unit | None = None) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=200), flipped(near_valid(kind, unit)),
                     st.binary(max_size=50).map(lambda b: b'{"ts":"2026-02-01T10:00:00Z","value":' + b))


def near_valid_payload(kind: str, unit: Unit | None = None) -> st.SearchStrategy[bytes]:
    return near_valid(kind, unit).map(str.encode)


def any_payload(kind: str, unit: Unit | None = None) -> st.SearchStrategy[bytes]:
    return st.one_of(near_valid_payload(kind, unit), near_valid_payload(kind, unit), near_valid_payload(kind, unit),
                     arbitrary_json_payload(kind), arbitrary_bytes_payload(kind, unit))


KINDS = ["meter", "luminaire", "wmbus"]


@st.composite
def message(draw: st.DrawFn, payload: Payload, topic_for: Callable[[str], st.SearchStrategy[str]] = topics,
            invalid: st.SearchStrategy[str] = invalid_topics) -> tuple[str, bytes]:
    """(topic, payload): mostly a payload of the topic's kind (readings in units the meter accepts when valid)."""
    kind = draw(st.sampled_from(KINDS))
    where = draw(st.integers(0, 15))
    if where == 0:
        t = draw(invalid)
    elif where == 1:
        t = draw(topic_for(draw(st.sampled_from(KINDS))))  # a payload of one kind on another kind's topic
    else:
        t = draw(topic_for(kind))
    parts = t.split("/")
    unit = UNITS.get(parts[5]) if len(parts) > 5 and parts[4] == "meters" else None
    return t, draw(payload(kind, unit))


@st.composite
def batches(draw: st.DrawFn, payload: Payload) -> list[list[tuple[str, bytes]]]:
    """1-3 batches of 1-8 messages; some messages are delivered again (MQTT QoS 1 redelivers), in a later batch or
    the same one."""
    out = draw(st.lists(st.lists(message(payload), min_size=1, max_size=8), min_size=1, max_size=3))
    sent = [m for batch in out for m in batch]
    corrected = [(t, revised(p)) for t, p in sent if revised(p) != p]
    for _ in range(draw(st.integers(0, 3))):
        again = draw(st.sampled_from(sent + corrected))
        out[draw(st.integers(0, len(out) - 1))].append(again)
    return out


def revised(payload: bytes) -> bytes:
    """The same readings with other values, as a meter correcting itself sends them (if the payload is JSON)."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    for item in doc if isinstance(doc, list) else [doc]:
        if isinstance(item, dict) and type(item.get("value")) in (int, float):
            item["value"] = item["value"] + 1.5
            item["quality"] = "revised"
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes
        return payload


CLOCK_CHANGES = [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)]  # in Copenhagen


@st.composite
def extreme_series(draw: st.DrawFn) -> list[list[tuple[str, bytes]]]:
    """Valid readings at the edges of what is accepted: values up to the plausibility bound of the meter's unit (and
    across it in other units), timestamps from 2000-01-01 to a day ahead, long gaps, resets from +bound to -bound:
    what made the rollups overflow or die before."""
    out = []
    old = draw(st.integers(0, 4)) == 0  # a gap of 26 years costs the rollups a second: in one example of five
    for _ in range(draw(st.integers(1, 3))):
        batch = []
        for _ in range(draw(st.integers(1, 4))):
            mid = draw(st.sampled_from(["M1", "M2", "G1", "W1", "I1"]))
            bound = MAX_ABS_KWH_OR_M3 / base_factor(UNITS[mid])
            values = st.one_of(st.floats(-bound, bound), st.sampled_from([bound, -bound, 0.0, 5e-324, -5e-324]),
                               st.floats(0, 1e6))
            when = _near(timedelta(days=-3), timedelta(hours=23))
            dst = st.sampled_from(CLOCK_CHANGES).flatmap(
                lambda t: st.integers(-180, 180).map(lambda m: t + timedelta(minutes=m)))
            when = st.one_of(when, when, dst)
            if old:
                when = st.one_of(
                    when, when,
                    st.integers(0, 3 * 86400).map(lambda s: EARLIEST + timedelta(seconds=s)),
                    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1)).map(
                        lambda d: d.replace(tzinfo=UTC)),
                )
            items = draw(st.lists(st.tuples(when, values), min_size=1, max_size=8))
            batch.append((topic("B1", "meter", mid), orjson.dumps([{"ts": t.isoformat(), "value": v}
                                                                      for t, v in items])))
        out.append(batch)
    return out


# -- the invariants -------------------------------------------------------------------------------------------------

def _counts(conn: psycopg.Connection) -> tuple[int, int, int]:
    row = conn.execute("SELECT (SELECT count(*) FROM dead_letters), (SELECT count(*) FROM quarantine), "
                       "(SELECT count(*) FROM readings)").fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def _finite(*values: float | None) -> bool:
    return all(v is None or math.isfinite(v) for v in values)


def check_stored(conn: psycopg.Connection, latest: datetime) -> None:
    """Nothing stored is non-finite, outside the plausibility bounds (after unit conversion) or the time window."""
    for mid, unit, ts, value in conn.execute(
            "SELECT m.id, m.unit, r.ts, r.value FROM readings r JOIN meters m ON m.key = r.meter_key"):
        bound = MAX_ABS_KWH_OR_M3 / base_factor(Unit(unit))
        assert _finite(value) and abs(value) <= bound * (1 + 1e-12), f"{mid}: implausible value {value!r} {unit}"
        assert EARLIEST <= ts <= latest, f"{mid}: reading at {ts} outside the window"
    for row in conn.execute("SELECT ts, power_w, energy_wh, dim_pct, burn_hours FROM luminaire_telemetry"):
        ts, power_w, energy_wh, dim_pct, burn_hours = row
        assert _finite(power_w, energy_wh, dim_pct, burn_hours), row
        assert EARLIEST <= ts <= latest, row
        for v, hi in ((power_w, wire.MAX_LUMINAIRE_W), (energy_wh, wire.MAX_ENERGY_WH), (dim_pct, 100),
                      (burn_hours, wire.MAX_BURN_HOURS)):
            assert v is None or 0 <= v <= hi, row
    for row in conn.execute("SELECT ts, flow_c, return_c, power_kw, volume_flow_m3h FROM heat_telemetry"):
        assert EARLIEST <= row[0] <= latest, row
        for v, (_, lo, hi) in zip(row[1:], WMBUS_HEAT_FIELDS, strict=True):
            assert v is None or (math.isfinite(v) and lo <= v <= hi), row


def check_rollups(conn: psycopg.Connection) -> None:
    errors = conn.execute("SELECT process, item, error FROM processing_errors").fetchall()
    assert not errors, f"rollups failed on an item: {errors}"
    assert conn.execute("SELECT count(*) FROM rollup_dirty WHERE attempts > 0").fetchone() == (0,)
    for table in ("consumption_hourly", "consumption_daily", "consumption_monthly"):
        for row in conn.execute(f"SELECT meter_key, amount, measured_s, estimated FROM {table}"):
            assert _finite(*row[1:]), f"{table}: non-finite rollup {row}"


def checked(conn: psycopg.Connection, n_messages: int, handle: Callable[[], BatchStats], latest: datetime) -> None:
    """Run one batch through the failure boundary (`handle`), then the rollups, with every invariant checked."""
    dead0, quarantine0, readings0 = _counts(conn)
    stats = handle()  # raises nothing: an exception fails the test
    dead1, quarantine1, readings1 = _counts(conn)
    note(f"outcomes {stats.outcomes}, reasons {stats.reasons}")
    if stats.internal_errors or "database" in stats.reasons:
        bad = conn.execute("SELECT topic, payload, reason FROM dead_letters WHERE reason LIKE 'internal error%%' "
                           "OR reason LIKE 'database%%'").fetchall()
        pytest.fail(f"payloads the parser should have refused with a reason: {bad}")
    assert sum(stats.outcomes.values()) == n_messages == stats.messages
    assert set(stats.outcomes) <= set(OUTCOMES)
    assert dead1 - dead0 == stats.outcomes.get("dead_lettered", 0) == stats.dead_lettered
    assert quarantine1 - quarantine0 == stats.outcomes.get("quarantined", 0) == stats.quarantined
    assert readings1 - readings0 == stats.readings_stored
    check_stored(conn, latest)
    process_dirty(conn, CPH)  # raises nothing
    check_rollups(conn)
    assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone() == (0,)
    for name in stats.outcomes:  # what the examples covered (pytest --hypothesis-show-statistics)
        event(f"outcome {name}")
    if stats.revisions:
        event("readings revised")
    if conn.execute("SELECT EXISTS (SELECT 1 FROM consumption_daily)").fetchone() == (True,):
        event("daily rollups computed")


def register_quarantined(conn: psycopg.Connection) -> int:
    """Register, in building B1, every device something was quarantined for (meters in kWh, MWh or litres of water,
    wmbus telegrams' ids as a GJ heat meter's external id); returns the messages now waiting to be replayed."""
    pending = conn.execute("SELECT DISTINCT kind, device_id FROM quarantine WHERE replayed_at IS NULL "
                           "ORDER BY kind, device_id").fetchall()
    units = [("electricity", "kWh"), ("district_heating", "MWh"), ("water", "l")]
    for i, (kind, device) in enumerate(pending):
        if kind == "luminaire":
            conn.execute("INSERT INTO luminaires (id, building_id, technology, rated_power_w) "
                         "VALUES (%s, 'B1', 'led', 10) ON CONFLICT DO NOTHING", [device])
        elif kind == "meter":
            carrier, unit = units[i % len(units)]
            conn.execute("INSERT INTO meters (id, building_id, carrier, unit, mode) VALUES (%s, 'B1', %s, %s, "
                         "'register') ON CONFLICT DO NOTHING", [device, carrier, unit])
        else:  # an id longer than any generated device id, one per telegram id
            conn.execute("INSERT INTO meters (id, building_id, carrier, unit, mode, external_id) VALUES "
                         "(%s, 'B1', 'district_heating', 'GJ', 'register', %s) ON CONFLICT DO NOTHING",
                         ["wmbus-" + hashlib.sha1(device.encode()).hexdigest()[:16], device])
    row = conn.execute("SELECT count(*) FROM quarantine WHERE replayed_at IS NULL").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def estate(stack: Stack, db: Engine) -> Iterator[tuple[psycopg.Connection, IngestPipeline]]:
    """The registered estate and a connection on which each example runs in a transaction that is rolled back."""
    register_estate(db)
    with psycopg.connect(libpq_dsn(stack.db_url), autocommit=True) as conn:
        yield conn, IngestPipeline(PREFIX, earliest=EARLIEST, max_abs_value=MAX_ABS_KWH_OR_M3)


def run_example(estate: tuple[psycopg.Connection, IngestPipeline], example: list[list[tuple[str, bytes]]]) -> None:
    """Each batch through the failure boundary; then the quarantined devices are registered and the quarantine sweep
    replays their messages through it too (the rows it refuses: another building's topic, units, bounds)."""
    conn, pipeline = estate
    with conn.transaction(force_rollback=True):
        for batch in example:
            msgs = [RawMessage(t, p, NOW) for t, p in batch]
            checked(conn, len(msgs), partial(pipeline.handle_batch, conn, msgs), NOW + timedelta(days=1))
        waiting = register_quarantined(conn)
        if waiting:
            # replayed with their original receipt time, NOW: the same window applies
            checked(conn, waiting, partial(sweep_quarantine, conn, pipeline), NOW + timedelta(days=1))
            assert conn.execute("SELECT count(*) FROM quarantine WHERE replayed_at IS NULL").fetchone() == (0,)
            event("quarantine replayed")


# -- the properties -------------------------------------------------------------------------------------------------

Example = list[list[tuple[str, bytes]]]


@budget(60)
@given(example=batches(arbitrary_bytes_payload))
def test_arbitrary_bytes_end_as_one_outcome_each(estate: tuple[psycopg.Connection, IngestPipeline],
                                                 example: Example) -> None:
    run_example(estate, example)


@budget(60)
@given(example=batches(arbitrary_json_payload))
def test_arbitrary_json_ends_as_one_outcome_each(estate: tuple[psycopg.Connection, IngestPipeline],
                                                 example: Example) -> None:
    run_example(estate, example)


@budget(200)
@given(example=batches(near_valid_payload))
def test_near_valid_messages_end_as_one_outcome_each_and_rollups_stay_finite(
        estate: tuple[psycopg.Connection, IngestPipeline], example: Example) -> None:
    run_example(estate, example)


@budget(30)
@given(example=extreme_series())
def test_extreme_plausible_readings_keep_every_rollup_finite(
        estate: tuple[psycopg.Connection, IngestPipeline], example: Example) -> None:
    run_example(estate, example)


# -- through a real worker process and Mosquitto --------------------------------------------------------------------

_MQTT_TEXT = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="+#/"), max_size=20)


def mqtt_topics(kind: str) -> st.SearchStrategy[str]:
    """Topics of this kind each building's broker identity may publish to (its own subtree), valid or not."""
    return topics(kind).filter(lambda t: t.split("/")[3] in ("B1", "B2") and not set(t) & set("+#\x00"))


mqtt_invalid_topics = st.sampled_from([f"{PREFIX}/buildings/B1", f"{PREFIX}/buildings/B2"]).flatmap(
    lambda b: st.one_of(st.sampled_from([f"{b}/meters/M1/values", f"{b}/meters/M1", f"{b}/wmbus", f"{b}/meters/M1//x",
                                         f"{b}/meters/M1/readings/", f"{b}/luminaires/L1/readings"]),
                        _MQTT_TEXT.map(lambda s: f"{b}/{s}")))


def _stored(conn: psycopg.Connection, t: str, payload: bytes) -> bool:
    """Every reading or sample of a message that was neither dead-lettered nor quarantined is in the database."""
    parts = t.split("/")
    doc = orjson.loads(payload)
    items = doc if isinstance(doc, list) else [doc]
    if parts[4] == "meters":
        sql = "SELECT 1 FROM readings r JOIN meters m ON m.key = r.meter_key WHERE m.id = %s AND r.ts = %s"
        keys = [(parts[5], wire.parse_ts(i["ts"])) for i in items]
    elif parts[4] == "luminaires":
        sql = ("SELECT 1 FROM luminaire_telemetry t JOIN luminaires l ON l.key = t.luminaire_key "
               "WHERE l.id = %s AND t.ts = %s")
        keys = [(parts[5], wire.parse_ts(i["ts"])) for i in items]
    else:
        sql = "SELECT 1 FROM readings r JOIN meters m ON m.key = r.meter_key WHERE m.external_id = %s AND r.ts = %s"
        keys = [(doc["id"], wire.parse_ts(doc["timestamp"]))]
    return all(conn.execute(sql, k).fetchone() is not None for k in keys)


class MqttEstate:
    def __init__(self, stack: Stack, db: Engine, workers: Workers) -> None:
        register_estate(db)
        sync_broker(stack)
        self.db = db
        self.worker = workers.start()
        self.pubs = {b: building_publisher(stack, b) for b in ("B1", "B2")}
        self.published = 0
        self.examples = 0

    def last_id(self, table: str) -> int:
        return int(scalar(self.db, f"SELECT coalesce(max(id), 0) FROM {table}"))


@pytest.fixture
def mqtt_estate(stack: Stack, db: Engine, workers: Workers) -> Iterator[MqttEstate]:
    e = MqttEstate(stack, db, workers)
    yield e
    for p in e.pubs.values():
        p.close()


@budget(8, shrink=False)  # shrinking would publish hundreds more batches; the failing one is printed whole
@given(published=st.lists(message(any_payload, mqtt_topics, mqtt_invalid_topics), min_size=40, max_size=40))
def test_a_worker_process_survives_hypothesis_payloads_and_valid_traffic_after_them_is_stored(
        stack: Stack, mqtt_estate: MqttEstate, published: list[tuple[str, bytes]]) -> None:
    e, w = mqtt_estate, mqtt_estate.worker
    dead0, quarantine0 = e.last_id("dead_letters"), e.last_id("quarantine")
    dead_metric0, quarantine_metric0 = w.metric("energiblik_ingest_dead_lettered"), w.metric(
        "energiblik_ingest_quarantined")
    for t, p in published:
        e.pubs[t.split("/")[3]].publish(t, p)
    e.pubs["B2"].flush()  # acknowledged by the broker, so queued for the worker before the valid traffic below
    e.examples += 1
    valid_ts = [NOW - timedelta(days=400) + timedelta(minutes=15 * (e.examples * 100 + i)) for i in range(20)]
    for i, ts in enumerate(valid_ts):
        e.pubs["B1"].publish(topic("B1", "meter", "S1"), orjson.dumps({"ts": ts.isoformat(), "value": 1000.0 + i}))
    e.pubs["B1"].flush()
    e.published += len(published) + len(valid_ts)

    wait_for(lambda: scalar(e.db, "SELECT count(*) FROM readings r JOIN meters m ON m.key = r.meter_key "
                                  "WHERE m.id = 'S1' AND r.ts = ANY(:ts)", ts=valid_ts) == len(valid_ts),
             timeout=60, what="the valid traffic after the payloads stored")
    assert w.proc is not None and w.proc.poll() is None, "the worker died"
    assert w.metric("energiblik_ingest_messages_received") == e.published
    assert w.metric("energiblik_ingest_internal_errors") == 0

    with e.db.connect() as c:
        dead = c.execute(text("SELECT topic, payload, reason FROM dead_letters WHERE id > :i"), {"i": dead0}).all()
        quarantined = c.execute(text("SELECT topic, payload FROM quarantine WHERE id > :i"), {"i": quarantine0}).all()
    assert w.metric("energiblik_ingest_dead_lettered") - dead_metric0 == len(dead)
    assert w.metric("energiblik_ingest_quarantined") - quarantine_metric0 == len(quarantined)
    for _, payload, reason in dead:
        assert not reason.startswith(("internal error", "database")), (payload, reason)
    sent = Counter(published)
    ended = Counter((r[0], bytes(r[1])) for r in dead) + Counter((r[0], bytes(r[1])) for r in quarantined)
    assert not ended - sent, f"dead letters or quarantine rows for messages never published: {ended - sent}"
    rest = sent - ended  # neither dead-lettered nor quarantined: stored, duplicate or revised
    assert sum(ended.values()) + sum(rest.values()) == len(published)
    event(f"dead-lettered {len(dead) // 10 * 10}+ of 40")
    event(f"quarantined {len(quarantined) // 5 * 5}+ of 40")
    event(f"stored, duplicate or revised {sum(rest.values()) // 5 * 5}+ of 40")
    with psycopg.connect(libpq_dsn(stack.db_url), autocommit=True) as conn:
        lost = [(t, p) for t, p in rest if not _stored(conn, t, p)]
        assert not lost, f"messages without an outcome: {lost}"
        with conn.transaction():
            process_dirty(conn, CPH)
        check_rollups(conn)
        check_stored(conn, datetime.now(UTC) + timedelta(days=1))

        # The devices get registered: the worker's quarantine sweep replays their messages through the same boundary.
        dead0 = e.last_id("dead_letters")
        with conn.transaction():
            waiting = register_quarantined(conn)
    if waiting:
        wait_for(lambda: scalar(e.db, "SELECT count(*) FROM quarantine WHERE replayed_at IS NULL") == 0,
                 timeout=60, what="the worker's quarantine sweep")
        assert w.proc is not None and w.proc.poll() is None, "the worker died"
        assert w.metric("energiblik_ingest_internal_errors") == 0
        with e.db.connect() as c:
            reasons = c.execute(text("SELECT reason FROM dead_letters WHERE id > :i"), {"i": dead0}).scalars().all()
        assert not [r for r in reasons if r.startswith(("internal error", "database"))], reasons
        event("quarantine replayed by the worker")
