"""Field-level error reporting shared by every entry point: which field, what is wrong with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.errors import ValidationFailed

# Where a value came from in an HTTP request; the field name alone is what a caller needs.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def dotted_field(loc: Sequence[int | str]) -> str:
    """`("body", "opening_hours", "mon", 0)` -> `"opening_hours.mon.0"`; the whole body is `"body"`."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        where, parts = parts[0], parts[1:]
        if not parts:
            return str(where)
    # pydantic marks a bad dict key with a trailing "[key]"; the key itself already names the place.
    return ".".join(str(p) for p in parts if p != "[key]")


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """pydantic/FastAPI error dicts as field errors with plain messages."""
    out = []
    for e in errors:
        msg = str(e.get("msg", "invalid"))
        # A ValueError raised in a validator arrives as "Value error, <our message>".
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        loc = e.get("loc", ())
        if e.get("type") == "json_invalid":
            # FastAPI puts the character offset where the field would be.
            ctx = e.get("ctx") or {}
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            out.append(FieldError("body", f"not valid JSON{at}: {ctx.get('error', msg)}"))
            continue
        out.append(FieldError(dotted_field(loc), msg))
    return out


class FieldErrors(ValidationFailed):
    """Several broken rules at once; `field`/`message` name the first, `errors` all of them."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("FieldErrors needs at least one error")
        super().__init__(errors[0].field, errors[0].message)
        self.errors = list(errors)
