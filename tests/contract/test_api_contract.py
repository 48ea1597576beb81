"""The API contract, checked against the live test stack over real HTTP with schemathesis: every operation of the
OpenAPI document is called with generated input by an admin, and every answer must be no server error, a documented
status code and content type, and a body that conforms to the declared schema.

Run through schemathesis' command line (`st run`), the way a reviewer probes the API from outside (its pytest plugin
does not support pytest 9 yet). Deterministic generation with a fixed seed, so CI does not flake on a new random
example; `ENERGIBLIK_CONTRACT_EXAMPLES` raises the examples per operation for a deeper run by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.api_helpers import Api, building_body, luminaire_body, meter_body, put_ok

pytest_plugins = ["tests.integration.api_fixtures"]

EXAMPLES = os.environ.get("ENERGIBLIK_CONTRACT_EXAMPLES", "15")
# Besides no server error and answers as documented: every request the schema admits is accepted
# (positive_data_acceptance) and every request it forbids is refused (negative_data_rejection). What depends on stored
# data or ties fields together cannot be a JSON Schema constraint: tests/contract/schemathesis.toml lists, per
# operation, the statuses such a rule may answer a schema-valid request with, and why.
CHECKS = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                   "response_schema_conformance", "positive_data_acceptance", "negative_data_rejection"])


@pytest.fixture
def estate(api: Api, engine: Any) -> Api:
    """A small estate, so that reads have something to answer with: a building with meters and a luminaire."""
    from tests.conftest import reset_database

    reset_database(engine)
    with api.client(api.admin_token) as admin:
        put_ok(admin, "/api/v1/buildings/b1", building_body())
        put_ok(admin, "/api/v1/meters/m1", meter_body("b1"))
        put_ok(admin, "/api/v1/meters/m2", meter_body("b1", carrier="district_heating"))
        put_ok(admin, "/api/v1/luminaires/l1", luminaire_body("b1"))
    return api


def test_every_operation_keeps_its_contract(estate: Api, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    config = Path(__file__).with_name("schemathesis.toml")
    cmd = [str(st), "--config-file", str(config), "run", f"{estate.base_url}/api/v1/openapi.json",
           "--header", f"Authorization: Bearer {estate.admin_token}",
           "--checks", CHECKS, "--max-examples", EXAMPLES, "--seed", "2015", "--generation-deterministic",
           "--phases", "examples,fuzzing", "--workers", "2", "--request-timeout", "60",
           "--report", "junit", "--report-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, check=False)
    out = proc.stdout + proc.stderr
    (tmp_path / "st-output.txt").write_text(out)  # the whole report, beside the JUnit file
    # what was covered is part of the evidence: every operation, and a few hundred cases
    assert "Tested:" in out, out[-3000:]
    assert proc.returncode == 0, out[-12000:]
