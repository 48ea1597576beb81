"""Units of meter registers and their exact conversions.

Energy is reported in kWh. Wh, MWh, MJ and GJ convert exactly (1 MJ = 1/3.6 kWh, so 1 GJ = 277.78 kWh as
shared/reference/energy-facts.md rounds it). Volumes (m3, l) convert only among themselves: turning gas m3 or oil
litres into kWh needs the meter's own factor (`kwh_per_unit`).
"""

from __future__ import annotations

from enum import StrEnum


class Unit(StrEnum):
    WH = "Wh"
    KWH = "kWh"
    MWH = "MWh"
    MJ = "MJ"
    GJ = "GJ"
    M3 = "m3"
    L = "l"


# Factor to the dimension's base unit: kWh for energy, m3 for volume.
_ENERGY_KWH: dict[Unit, float] = {
    Unit.WH: 1e-3,
    Unit.KWH: 1.0,
    Unit.MWH: 1e3,
    Unit.MJ: 1 / 3.6,
    Unit.GJ: 1e3 / 3.6,
}
_VOLUME_M3: dict[Unit, float] = {Unit.M3: 1.0, Unit.L: 1e-3}


class UnitMismatch(ValueError):
    pass


def is_energy(unit: Unit) -> bool:
    return unit in _ENERGY_KWH


def conversion_factor(from_unit: Unit, to_unit: Unit) -> float:
    """The factor f with value_in_to_unit = value_in_from_unit * f; UnitMismatch between energy and volume."""
    if from_unit == to_unit:
        return 1.0
    for table in (_ENERGY_KWH, _VOLUME_M3):
        if from_unit in table and to_unit in table:
            return table[from_unit] / table[to_unit]
    raise UnitMismatch(f"{from_unit.value!r} cannot be converted to the meter's unit {to_unit.value!r}")


def base_factor(unit: Unit) -> float:
    """`unit` in its dimension's base unit: kWh for energy, m3 for volume."""
    return _ENERGY_KWH.get(unit) or _VOLUME_M3[unit]


def to_kwh(value: float, unit: Unit, kwh_per_unit: float | None = None) -> float:
    """Energy in kWh of `value` in `unit`; volumes need the meter's kWh-per-unit factor."""
    if unit in _ENERGY_KWH:
        return value * _ENERGY_KWH[unit]
    if kwh_per_unit is None:
        raise UnitMismatch(f"{unit.value!r} needs a kwh_per_unit factor to become kWh")
    return value * kwh_per_unit


# Spellings seen from meters and gateways, mapped to the registered unit names.
ALIASES: dict[str, Unit] = {
    "wh": Unit.WH, "kwh": Unit.KWH, "mwh": Unit.MWH, "mj": Unit.MJ, "gj": Unit.GJ,
    "m3": Unit.M3, "m³": Unit.M3, "l": Unit.L, "liter": Unit.L, "litre": Unit.L,
}


def parse_unit(text: str) -> Unit:
    try:
        return ALIASES[text.strip().lower()]
    except KeyError:
        raise UnitMismatch(f"unknown unit {text!r}") from None
