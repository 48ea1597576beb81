from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from services.alerts.repository import seed_default_rules
from tests.stack import Stack, start_stack

# Every table holding data; truncated before each test that asks for a clean database.
DATA_TABLES = [
    "rollup_dirty", "consumption_decisions", "consumption_daily", "consumption_monthly", "consumption_hourly",
    "consumption_gap_steps", "consumption_long_steps", "meter_exchanges",
    "api_tokens", "quarantine", "dead_letters", "luminaire_telemetry", "reading_revisions", "readings",
    "luminaire_history", "luminaires", "meters", "building_area_history", "buildings",
    "alert_events", "webhook_deliveries", "alerts", "heat_telemetry",
    "audit_log", "baseline_entries", "baseline_imports", "degree_day_entries", "degree_day_imports", "settings",
    "building_adjustments", "processing_errors", "ingest_members", "sync_runs", "sync_cursors", "sync_unmapped",
    "sync_schedule",
    "degree_days_daily", "co2_intensity_hourly", "co2_intensity_revisions",
]


@pytest.fixture(scope="session")
def stack() -> Stack:
    s = start_stack()
    # Programs started by tests, and settings read in-process, point at the test stack.
    os.environ.update({k: v for k, v in s.env.items() if k.startswith("ENERGIBLIK_")})
    from services.config import get_settings

    get_settings.cache_clear()
    return s


@pytest.fixture(scope="session")
def engine(stack: Stack) -> Iterator[Engine]:
    eng = create_engine(stack.db_url, pool_pre_ping=True)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Engine:
    """A clean database (schema migrated, no data)."""
    return reset_database(engine)


def reset_database(engine: Engine) -> Engine:
    """Empty every data table and put the seeded reference data back (also for module-scoped fixtures)."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
        # seeded reference data: back to what the migrations ship
        conn.execute(text("DELETE FROM co2_factors WHERE actor <> 'default data file'"))
        conn.execute(text("DELETE FROM targets WHERE id !~ '^T[1-6]$'"))
        conn.execute(text("TRUNCATE alert_rules"))  # (emptied by the cascade anyway: it references buildings)
        seed_default_rules(conn)
    return engine


@pytest.fixture
def workers(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.integration.harness import Workers

    w = Workers(stack, tmp_path_factory.mktemp("workers"))
    yield w
    w.close()
