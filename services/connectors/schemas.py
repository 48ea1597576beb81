"""What the sync status answers say: each source's last run, next run and the metering points without a meter."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

RunStatus = Literal["running", "ok", "partial", "failed"]
Trigger = Literal["schedule", "cli", "api"]


_SOURCE = "the source: eloverblik (DataHub), dmi (degree days), energidataservice (hourly CO2) or utility (files)"


class RunOut(BaseModel):
    id: int = Field(description="the run's id")
    source: str = Field(description=_SOURCE)
    trigger: Trigger = Field(description="who started it: the scheduler, the CLI or the API")
    actor: str = Field(description="the token name or process that started it")
    started_at: datetime = Field(description="when it started (local time)")
    finished_at: datetime | None = Field(description="when it ended (local time); null while running")
    status: RunStatus = Field(description="ok: everything stored; partial: some items or rows failed (see errors "
                                          "and rejected); failed: the run ended early (see message)")
    stored: int = Field(description="new readings or values stored")
    duplicate: int = Field(description="readings delivered again with the same value: stored once, unchanged")
    revised: int = Field(description="readings that changed a stored value (kept as revisions)")
    rejected: int = Field(description="rows refused by validation (dead letters or rejected lines)")
    errors: int = Field(description="items (metering points, files, areas) that failed and were skipped")
    message: str | None = Field(description="why a run failed, or a summary")
    detail: dict[str, Any] = Field(description="source-specific figures, e.g. metering points seen, item errors")


class UnmappedOut(BaseModel):
    source: str = Field(description=_SOURCE)
    external_id: str = Field(description="the metering point (GSRN) or meter number the source delivered")
    first_seen: datetime = Field(description="when a run first delivered it (local time)")
    last_seen: datetime = Field(description="when a run last delivered it (local time)")
    detail: dict[str, Any] = Field(description="what the source said about it (address, type, ...)")


class SourceStatus(BaseModel):
    source: str = Field(description=_SOURCE)
    enabled: bool = Field(description="ENERGIBLIK_SYNC__<SOURCE>__ENABLED as the scheduler has it: it runs the "
                                      "source on its schedule")
    problem: str | None = Field(description="why it cannot run as configured (e.g. no refresh token); null when ready")
    last_run: RunOut | None = Field(description="its latest run; null: never run")
    next_run: datetime | None = Field(description="when the scheduler runs it next; null when it does not")
    unmapped: int = Field(description="metering points / meter numbers delivered without a registered meter")


class SyncStatusOut(BaseModel):
    sources: list[SourceStatus] = Field(description="every source, by name")
    scheduler_running: bool = Field(description="the scheduler (python -m ingest.sync) reported within the last "
                                                "10 minutes; `enabled`, `problem` and `next_run` are then its view")
    scheduler_seen_at: datetime | None = Field(description="when the scheduler last reported (null: never)")
