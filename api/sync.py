"""The connectors' status: each source's last run, next run and the metering points without a meter (the
dashboard's "Data sources" card reads this). Portfolio-wide roles only: a metering point list is the whole estate's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Query

from api.deps import Caller, EngineDep, SettingsDep, pg
from api.routing import v1_router
from services.auth.schemas import Principal, Role
from services.auth.service import require
from services.connectors import service
from services.connectors.schemas import RunOut, SyncStatusOut, UnmappedOut

router = v1_router(tags=["sync"])

SourceName = Literal["eloverblik", "utility", "dmi", "energidataservice"]


def portfolio_reader(p: Caller) -> Principal:
    require(p.role != Role.facility_manager, "read the data sources' status (portfolio-wide roles only)")
    return p


PortfolioReader = Annotated[Principal, Depends(portfolio_reader)]


@router.get("/sync", response_model=SyncStatusOut)
def get_sync_status(_: PortfolioReader, engine: EngineDep, settings: SettingsDep) -> SyncStatusOut:
    """Every connector: whether it is enabled and ready (or why not), its last run (when, outcome, rows stored,
    unchanged, revised, rejected, item errors, message), when the scheduler runs it next, and how many delivered
    metering points or meter numbers have no registered meter."""
    with pg(engine) as conn:
        return service.status(conn, settings)


@router.get("/sync/unmapped", response_model=list[UnmappedOut])
def get_sync_unmapped(_: PortfolioReader, engine: EngineDep,
                      source: Annotated[SourceName | None, Query(description="only this source's")] = None,
                      limit: Annotated[int, Query(ge=1, le=10_000, description="the most rows answered")] = 1000
                      ) -> list[UnmappedOut]:
    """Metering points (GSRN) and meter numbers a source delivered that no meter's `external_id` names: register a
    meter with that external id (PUT /meters/{id}) and the next run stores its data."""
    with pg(engine) as conn:
        return service.unmapped(conn, source, limit)


@router.get("/sync/{source}/runs", response_model=list[RunOut])
def get_sync_runs(_: PortfolioReader, engine: EngineDep,
                  source: Annotated[SourceName, Path(description="the source whose runs to list")],
                  limit: Annotated[int, Query(ge=1, le=500, description="the most runs answered (newest first)")] = 50
                  ) -> list[RunOut]:
    """A source's runs, newest first."""
    with pg(engine) as conn:
        return service.runs(conn, source, limit)
