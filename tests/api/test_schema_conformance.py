"""The OpenAPI schema at /api/schema/ describes what a live Quill does, checked by schemathesis.

The schema is generated at collection (pytest-django has set Django up by then), so that each
operation is its own test; `test_the_server_serves_this_schema` proves it is the one the live
server serves. Every check is on; tests/api/schemathesis.toml holds the seed, the bounds, and,
per operation, each place a check cannot apply, with the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from schemathesis.config import SchemathesisConfig

from tests.api.conftest import IDS, TOKENS

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The records are committed by live_quill (module scope); each test itself only reads them.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def generated_schema() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def load_schema() -> schemathesis.schemas.BaseSchema:
    """The schema, configured by schemathesis.toml, whose ${QUILL_CONTRACT_*} values are set here."""
    os.environ.update({f"QUILL_CONTRACT_{name.upper()}": value for name, value in IDS.items()})
    os.environ.update({f"QUILL_CONTRACT_TOKEN_{who.upper()}": key for who, key in TOKENS.items()})
    return schemathesis.openapi.from_dict(generated_schema(), config=SchemathesisConfig.from_path(CONFIG))


schema = load_schema()


@pytest.fixture(scope="module")
def target(live_quill):
    """The live server, and the schema pointed at it (the stateful phase sends to the schema's base URL)."""
    schema.config.base_url = live_quill.base_url
    return live_quill


def test_the_server_serves_this_schema(target):
    served = requests.get(f"{target.base_url}/api/schema/?format=json", timeout=30)
    assert served.status_code == 200
    assert served.json() == schema.raw_schema


@schema.parametrize()
def test_every_operation_conforms(case, target):
    case.call_and_validate(base_url=target.base_url)


def test_stateful_sequences_conform(target):
    schema.as_state_machine().run()
