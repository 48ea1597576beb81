"""The simulated estate: deterministic per seed, plausible weather, opening hours and holidays matter."""

from __future__ import annotations

from datetime import date

from simulators.model import day_use, fleet, month_degree_days


def test_same_seed_same_fleet_and_numbers() -> None:
    a, b = fleet(12, seed=7), fleet(12, seed=7)
    assert [(x.id, x.area_m2, x.heating_2015, [m.id for m in x.meters]) for x in a] == \
        [(x.id, x.area_m2, x.heating_2015, [m.id for m in x.meters]) for x in b]
    assert day_use(a[3], date(2025, 2, 3), seed=7) == day_use(b[3], date(2025, 2, 3), seed=7)
    other = fleet(12, seed=8)
    assert [x.area_m2 for x in other] != [x.area_m2 for x in a]


def test_degree_days_are_danish() -> None:
    for year in (2015, 2020, 2025):
        total = sum(month_degree_days(year, m) for m in range(1, 13))
        assert 2700 < total < 3600, (year, total)  # the normal year is 3112
    assert month_degree_days(2025, 1) > 5 * month_degree_days(2025, 7)


def test_a_school_uses_less_on_a_holiday_and_at_night() -> None:
    school = next(b for b in fleet(40) if b.archetype.type == "school")

    def el(d: date) -> float:
        return sum(u["electricity"] for _, u in day_use(school, d))

    workday, holiday = date(2025, 4, 23), date(2025, 4, 21)  # a Wednesday after Easter; Easter Monday
    assert el(holiday) < 0.7 * el(workday)
    hours = day_use(school, workday)
    night = hours[2][1]["electricity"]
    noon = hours[12][1]["electricity"]
    assert noon > 2 * night


def test_energy_counts_add_up_per_carrier() -> None:
    b = fleet(30)[0]
    use = day_use(b, date(2025, 1, 15))
    assert len(use) == 24
    assert all(u["electricity"] >= u.get("heat_pump", 0) + u.get("ev_charging", 0) for _, u in use)
    assert len(day_use(b, date(2025, 3, 30))) == 23 and len(day_use(b, date(2025, 10, 26))) == 25
