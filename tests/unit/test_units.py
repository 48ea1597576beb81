import math

import pytest

from services.readings.units import Unit, UnitMismatch, conversion_factor, parse_unit, to_kwh


def test_exact_energy_conversions() -> None:
    assert to_kwh(1, Unit.GJ) == pytest.approx(277.7777777777778, rel=1e-15)
    assert round(to_kwh(1, Unit.GJ), 2) == 277.78
    assert to_kwh(3.6, Unit.MJ) == pytest.approx(1.0, rel=1e-15)
    assert to_kwh(2.5, Unit.MWH) == 2500.0
    assert to_kwh(1500, Unit.WH) == 1.5
    assert conversion_factor(Unit.GJ, Unit.MWH) == pytest.approx(1 / 3.6)
    assert conversion_factor(Unit.KWH, Unit.KWH) == 1.0


def test_volumes_convert_among_themselves_and_need_a_factor_for_energy() -> None:
    assert conversion_factor(Unit.L, Unit.M3) == 0.001
    assert to_kwh(100, Unit.M3, kwh_per_unit=11.0) == 1100.0
    with pytest.raises(UnitMismatch):
        to_kwh(1, Unit.L)
    with pytest.raises(UnitMismatch, match="cannot be converted"):
        conversion_factor(Unit.M3, Unit.KWH)


def test_parse_unit_aliases() -> None:
    assert parse_unit("KWH") is Unit.KWH
    assert parse_unit("m³") is Unit.M3
    with pytest.raises(UnitMismatch, match="unknown unit"):
        parse_unit("furlong")
    assert math.isclose(conversion_factor(parse_unit("gj"), Unit.KWH), 1000 / 3.6)
