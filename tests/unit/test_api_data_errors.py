"""Which database data errors are the caller's (422) and which are ours (500): api/errors.py `_data_error`."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from starlette.requests import Request

from api.errors import _data_error


def _status(exc: Exception) -> int:
    request = Request({"type": "http", "method": "GET", "path": "/api/v1/x", "headers": [], "query_string": b""})
    return asyncio.run(_data_error(request, exc)).status_code


@pytest.mark.parametrize(("exc", "status"), [
    (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), 422),  # refused by psycopg
    (psycopg.errors.UntranslatableCharacter(), 422),
    (psycopg.errors.CharacterNotInRepertoire(), 422),
    (psycopg.errors.NumericValueOutOfRange(), 422),
    (psycopg.errors.DatetimeFieldOverflow(), 422),
    (psycopg.errors.DivisionByZero(), 500),  # our own SQL: a bug, not input
    (psycopg.errors.InvalidParameterValue(), 500),
])
def test_only_data_errors_a_value_can_cause_are_422(exc: Exception, status: int) -> None:
    assert _status(exc) == status
