"""The OpenAPI document says in JSON Schema what the API checks, so clients and schema-driven testers can rely on it."""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.types import Strict

from api.app import create_app


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = [(path, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _walk(v, f"{path}[{i}]")
    return found


def test_bounds_are_json_schema_keywords(spec: dict[str, Any]) -> None:
    # pydantic writes bounds it cannot place as `ge`/`le`/`gt`/`lt`, which no client reads (STRICT_NUMBER's note)
    wrong = [f"{path}: {k}" for path, node in _walk(spec) if isinstance(node, dict) and node.get("type") in
             ("number", "integer") for k in ("ge", "le", "gt", "lt") if k in node]
    assert wrong == []


def test_instants_and_dates_in_queries_declare_their_pattern(spec: dict[str, Any]) -> None:
    # every query parameter documented as an RFC 3339 instant or local date says which text is valid
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                doc = (p.get("description") or "") + str(p.get("schema", {}).get("description", ""))
                if p["in"] == "query" and "RFC 3339" in doc and "pattern" not in str(p["schema"]):
                    missing.append(f"{method.upper()} {path} {p['name']}")
    assert missing == []


def test_every_schema_property_is_described(spec: dict[str, Any]) -> None:
    # issue 14: a client reads each field's meaning, unit and what null means from the document, not from the code
    missing = [f"{name}.{prop}" for name, schema in spec["components"]["schemas"].items()
               for prop, p in schema.get("properties", {}).items() if not str(p.get("description", "")).strip()]
    assert missing == []


def test_every_query_and_path_parameter_is_described(spec: dict[str, Any]) -> None:
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                doc = str(p.get("description") or p.get("schema", {}).get("description") or "").strip()
                if p["in"] in ("query", "path") and not doc:
                    missing.append(f"{method.upper()} {path} {p['in']} {p['name']}")
    assert missing == []


def _untyped(schema: dict[str, Any] | None, components: dict[str, Any]) -> bool:
    """A JSON body schema that says nothing of its fields: missing, `{}`, a bare object, or a list of those."""
    if not schema:
        return True
    if "$ref" in schema:
        return _untyped(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if schema.get("type") == "array":
        return _untyped(schema.get("items"), components)
    if "anyOf" in schema:
        return any(_untyped(s, components) for s in schema["anyOf"] if s.get("type") != "null")
    return schema.get("type") == "object" and "properties" not in schema


def test_every_json_answer_declares_its_fields(spec: dict[str, Any]) -> None:
    # an energy team scripting against the API (Python, R, Power BI) reads from the document what each answer holds
    components = spec["components"]["schemas"]
    untyped = [f"{method.upper()} {path} {code}"
               for path, ops in spec["paths"].items() for method, op in ops.items()
               for code, answer in op.get("responses", {}).items() if code.startswith("2")
               for media, body in answer.get("content", {}).items() if media == "application/json"
               if _untyped(body.get("schema"), components)]
    assert untyped == []


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models(a)]


def _loose_bools(annotation: Any, metadata: list[Any], where: str) -> list[str]:
    # a JSON body's true/false is never "yes", "off" or 0 (issue 14): StrictBool, also inside a union or a list
    if annotation is bool:
        return [] if any(isinstance(m, Strict) and m.strict for m in metadata) else [where]
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        return _loose_bools(inner, [*metadata, *extra], where)
    return [w for a in get_args(annotation) for w in _loose_bools(a, [], where)]


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    # routers included into the app are kept as such (FastAPI >= 0.16x): their own routes are the APIRoutes
    found: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        elif hasattr(r, "original_router"):
            found += _api_routes(r.original_router.routes)
    return found


def test_booleans_in_request_bodies_are_strict() -> None:
    seen: set[type[BaseModel]] = set()
    todo = [m for r in _api_routes(create_app().routes) if r.body_field is not None
            for m in _models(r.body_field.field_info.annotation)]
    loose: list[str] = []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, f in model.model_fields.items():
            loose += _loose_bools(f.annotation, list(f.metadata), f"{model.__name__}.{name}")
            todo += _models(f.annotation)
    assert any(m.__name__ == "RuleIn" for m in seen)  # the walk finds the bodies
    assert loose == []


def test_create_or_replace_puts_document_the_body_of_their_201(spec: dict[str, Any]) -> None:
    # PUT /buildings|meters|luminaires/{id} answer 201 (created) with the same body as 200 (replaced)
    for path in ("/api/v1/buildings/{building_id}", "/api/v1/meters/{meter_id}", "/api/v1/luminaires/{luminaire_id}"):
        responses = spec["paths"][path]["put"]["responses"]
        assert responses["201"].get("content") == responses["200"]["content"], path
        assert "$ref" in responses["201"]["content"]["application/json"]["schema"], path


def test_no_two_models_share_a_name(spec: dict[str, Any]) -> None:
    # two pydantic classes of one name appear as `services__<slice>__schemas__<Name>`, which tells a client nothing
    assert [name for name in spec["components"]["schemas"] if "__" in name] == []
