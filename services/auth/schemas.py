"""Who is calling, and which buildings they may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.registry.schemas import EntityId, Text


class Role(StrEnum):
    admin = "admin"
    energy_team = "energy_team"
    facility_manager = "facility_manager"
    viewer = "viewer"


@dataclass(frozen=True)
class BuildingScope:
    """The buildings a caller may see: `building_ids is None` means every building."""

    building_ids: frozenset[str] | None

    @classmethod
    def everything(cls) -> BuildingScope:
        return cls(None)

    def allows(self, building_id: str) -> bool:
        return self.building_ids is None or building_id in self.building_ids


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `token_id` is None for the admin token from the environment."""

    role: Role
    name: str
    token_id: int | None
    building_ids: frozenset[str] = frozenset()

    @property
    def scope(self) -> BuildingScope:
        # Only facility managers are bound to buildings; every other role sees the whole portfolio.
        if self.role == Role.facility_manager:
            return BuildingScope(self.building_ids)
        return BuildingScope.everything()

    @property
    def can_write_registry(self) -> bool:
        return self.role in (Role.admin, Role.energy_team)

    @property
    def can_read_ingest_rejects(self) -> bool:
        """Dead letters and quarantine hold other buildings' raw payloads: portfolio-wide roles only."""
        return self.role in (Role.admin, Role.energy_team)

    @property
    def can_manage_tokens(self) -> bool:
        return self.role == Role.admin


def _token_schema(schema: dict[str, Any]) -> None:
    """A facility manager's token names at least one building, every other role's none (what create_token checks),
    declared in the OpenAPI document."""
    schema["if"] = {"properties": {"role": {"const": Role.facility_manager.value}}, "required": ["role"]}
    schema["then"] = {"required": ["building_ids"], "properties": {"building_ids": {"minItems": 1}}}
    schema["else"] = {"properties": {"building_ids": {"maxItems": 0}}}


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_token_schema)

    name: Text = Field(description="who or what the token is for; shown as the actor in audit logs and alert "
                                   "histories")
    role: Role = Field(description="admin, energy_team, facility_manager (bound to building_ids) or viewer")
    building_ids: list[EntityId] = Field(
        default_factory=list, description="the buildings of a facility manager (required for that role only)"
    )


class TokenOut(BaseModel):
    id: int = Field(description="the token's id (DELETE /tokens/{id} revokes it)")
    name: str = Field(description="who or what the token is for; the actor in audit logs")
    role: Role = Field(description="admin, energy_team, facility_manager or viewer")
    building_ids: list[str] = Field(description="the buildings a facility manager may see; empty for other roles")
    created_at: datetime = Field(description="when it was created (local time)")
    revoked_at: datetime | None = Field(description="when it was revoked (local time); null: still valid")


class CreatedToken(TokenOut):
    token: str = Field(description="the secret; shown only once, only its SHA-256 is stored")
