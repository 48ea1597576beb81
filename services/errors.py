"""Domain errors. Entry points translate them: the API into 4xx answers, the ingest worker into dead letters."""

from __future__ import annotations


class DomainError(Exception):
    """Base of errors caused by input, never by the system."""


class NotFoundError(DomainError):
    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class ValidationFailed(DomainError):
    """Input that breaks a rule; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
