"""What the alert answers say: alerts with their history, the rules as data, and the daily digests."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from services.alerts.rules import DEFAULT_PARAMS, PARAM_BOUNDS, RULES

RuleName = Literal["meter_silent", "counter_anomaly", "night_baseload", "lights_out_of_hours", "above_baseline",
                   "dh_cooling"]
AlertState = Literal["open", "acknowledged", "resolved"]


class AlertEventOut(BaseModel):
    at: datetime = Field(description="when it happened (local time)")
    kind: str = Field(description="opened, repeated, acknowledged or resolved")
    actor: str = Field(description="who: a token's name, or `energiblik` for the rules themselves")
    detail: dict[str, Any] | None = Field(description="what the rule found then, or the note given")


class AlertOut(BaseModel):
    id: int = Field(description="the alert's id")
    rule: RuleName = Field(description="the rule that raised it")
    building_id: str = Field(description="the building it is about")
    subject: str = Field(description="the meter or luminaire the alert is about; empty for the whole building")
    state: AlertState = Field(description="open, acknowledged (seen by someone, still active) or resolved")
    severity: str = Field(description="info, warning or critical")
    title: str = Field(description="one line saying what was found")
    detail: dict[str, Any] = Field(description="the rule's evidence (e.g. the night's baseload in kW against its "
                                               "normal, a silent meter's last reading); instants in local time")
    wasted_kwh: float | None = Field(description="kWh used above what the rule judges normal over the alert's "
                                                 "periods so far (null where a rule does not estimate waste)")
    first_seen: datetime = Field(description="when a rule evaluation first raised it (local time)")
    last_seen: datetime = Field(description="when a rule evaluation last found it again (local time)")
    occurrences: int = Field(description="periods (days, months, decisions) it fired for")
    acknowledged_at: datetime | None = Field(description="when it was acknowledged (local time); null: not "
                                                         "acknowledged")
    acknowledged_by: str | None = Field(description="the token's name that acknowledged it; null: not acknowledged")
    resolved_at: datetime | None = Field(description="when it was resolved (local time); null: still active")
    resolved_by: str | None = Field(description="who resolved it: a token's name, or `energiblik` when the "
                                                "condition ended; null: still active")
    resolution: str | None = Field(description="why it was resolved: by hand with a note, or the condition ended")


class AlertWithEventsOut(AlertOut):
    events: list[AlertEventOut] = Field(description="its history, oldest first")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=1000, description="a note kept in the alert's history "
                                                                        "(resolving: its resolution); null: none")


def _param_schema(rule: str, key: str) -> dict[str, Any]:
    """A rule parameter's JSON Schema: its type from its default, its range from PARAM_BOUNDS (what check_param, and
    so set_rule, enforces), or for kinds a non-empty set of the rule's own."""
    default = DEFAULT_PARAMS[rule][key]
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, list):
        return {"type": "array", "items": {"type": "string", "enum": list(default)}, "minItems": 1,
                "uniqueItems": True}
    lo, hi = PARAM_BOUNDS[rule][key]
    return {"type": "integer" if isinstance(default, int) else "number", "minimum": lo, "maximum": hi}


def _rule_schema(schema: dict[str, Any]) -> None:
    """The rule's own parameters declared per rule (`params` holds only keys the rule has, each of its type and in its
    range), and building_type and building_id never both given: what set_rule checks, so the OpenAPI document says
    it."""
    schema["allOf"] = [
        {"if": {"properties": {"rule": {"const": rule}}, "required": ["rule"]},
         "then": {"properties": {"params": {
             "type": "object", "additionalProperties": False,
             "properties": {k: _param_schema(rule, k) for k in DEFAULT_PARAMS[rule]}}}}}
        for rule in RULES
    ]
    schema["not"] = {"properties": {"building_type": {"type": "string"}, "building_id": {"type": "string"}},
                     "required": ["building_type", "building_id"]}


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_rule_schema)

    rule: RuleName = Field(description="the rule the row configures")
    building_type: str | None = Field(default=None, min_length=1, max_length=100,
                                      description="the row applies to buildings registered with exactly this type "
                                                  "(the registry's type is free text, e.g. school); a type no "
                                                  "building has yet is kept and applies once one is registered; "
                                                  "null: not by type")
    building_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$",
                                    description="the row applies to this building; null: not one building (both "
                                                "null: the rule's defaults)")
    params: dict[str, Any] = Field(default_factory=dict, description="only the keys to override")
    enabled: StrictBool = Field(default=True, description="false: the rule does not run where the row applies "
                                                          "(JSON true or false only)")


class RuleOut(BaseModel):
    id: int = Field(description="the rule row's id")
    rule: RuleName = Field(description="the rule the row configures")
    building_type: str | None = Field(description="the row applies to buildings of this type (null: all)")
    building_id: str | None = Field(description="the row applies to this building (null: all)")
    params: dict[str, Any] = Field(description="parameters set on this row; rows merge: defaults, type, building")
    enabled: bool = Field(description="false: the rule does not run where the row applies")
    updated_at: datetime | None = Field(default=None, description="when the row was created or last changed (local "
                                                                  "time)")


class DigestOut(BaseModel):
    recipient: str = Field(description="the token's name the digest is for")
    date: str = Field(description="the local day the digest covers (YYYY-MM-DD)")
    new: list[AlertOut] = Field(description="alerts first seen that day")
    active: list[AlertOut] = Field(description="every alert still open or acknowledged at the day's end")
    wasted_kwh_active: float = Field(description="kWh wasted so far by the active alerts (sum of their wasted_kwh)")


class RecipientDigestOut(DigestOut):
    token_id: int = Field(description="the recipient's token id")
    buildings: list[str] = Field(description="the facility manager's buildings")
    html: str = Field(description="the same digest as an HTML mail body")
