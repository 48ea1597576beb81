"""The CLI's registry import reports how far it is (a tqdm bar on a terminal), without a database."""

from __future__ import annotations

import io

import pytest

from services.cli import StageBar, build_parser
from services.registry.csv_import import Kind, parse


def test_validating_reports_lines_up_to_all_of_them() -> None:
    text = "id,name,type,heated_area_m2,heating\n" + "".join(
        f"b{i},School {i},school,{1000 + i},district_heating\n" for i in range(250))
    calls: list[tuple[str, int, int]] = []
    rows, errors, _ = parse(Kind.buildings, text, lambda stage, done, total: calls.append((stage, done, total)))
    assert errors == [] and len(rows) == 250
    assert calls[-1] == ("validating", 250, 250)
    done = [c[1] for c in calls]
    assert done == sorted(done) and len(calls) >= 250  # one step per row, never backwards


def test_a_quoted_cell_over_two_lines_never_counts_past_the_total() -> None:
    text = 'id,name,type,heated_area_m2,heating,address\nb1,A,school,100,district_heating,"Vej 1\n2750 Ballerup"\n'
    calls: list[tuple[str, int, int]] = []
    rows, errors, _ = parse(Kind.buildings, text, lambda stage, done, total: calls.append((stage, done, total)))
    assert errors == [] and len(rows) == 1
    assert all(done <= total for _, done, total in calls) and calls[-1] == ("validating", 2, 2)


def test_the_stage_bar_opens_one_bar_per_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr("sys.stderr", err)
    bar = StageBar("import buildings", None)
    bar("validating", 0, 3)
    bar("validating", 3, 3)
    bar("storing", 2, 3)
    bar("storing", 3, 3)
    bar.close()
    out = err.getvalue()
    assert "import buildings: validating: 100%" in out and "3/3" in out
    assert "import buildings: storing: 100%" in out
    quiet = Tty()
    monkeypatch.setattr("sys.stderr", quiet)
    bar = StageBar("import buildings", False)  # --no-progress
    bar("storing", 3, 3)
    bar.close()
    assert quiet.getvalue() == ""


def test_import_takes_no_progress() -> None:
    args = build_parser().parse_args(["import", "buildings", "b.csv", "--no-progress"])
    assert args.no_progress is True
