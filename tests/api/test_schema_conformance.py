"""The OpenAPI schema at /api/schema/ describes what a live Quill does, checked by schemathesis.

Three runs: as the user who holds every role (every operation, then the stateful phase along the
schema's links); as the billing user against a clinical document; as another organisation's
user against this organisation's records, which must answer only 403 or 404 and show nothing.

The schema is generated at collection (pytest-django has set Django up by then), so that each
operation is its own test; `test_the_server_serves_this_schema` proves it is the one the live
server serves. Every check is on; tests/api/schemathesis.toml holds the seed, the bounds, and,
per operation, each place a check cannot apply, with the reason.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import time
from pathlib import Path

import hypothesis
import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from tests.api.conftest import IDS, TOKENS, auth_headers

CONFIG = Path(__file__).with_name("schemathesis.toml")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
# The records are committed by live_quill (module scope); each test itself only reads them.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


# The direct upload takes the file as the body in its own media type: sent as bytes, like octet-stream.
for media_type in ("application/pdf", "application/dicom", "image/tiff", "image/jpeg", "image/png"):
    schemathesis.serializer.alias(media_type, "application/octet-stream")


def generated_schema() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def load_schema() -> schemathesis.schemas.BaseSchema:
    """The schema, configured by schemathesis.toml, whose ${QUILL_CONTRACT_*} values are set here."""
    os.environ.update({f"QUILL_CONTRACT_{name.upper()}": value for name, value in IDS.items()})
    os.environ.update({f"QUILL_CONTRACT_TOKEN_{who.upper()}": key for who, key in TOKENS.items()})
    return schemathesis.openapi.from_dict(generated_schema(), config=SchemathesisConfig.from_path(CONFIG))


schema = load_schema()


# Requests sent, by run, written to artifacts/schemathesis-summary.txt at the end of the module.
SENT: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _summary():
    started = time.monotonic()
    yield
    lines = [f"{run}: {count}" for run, count in sorted(SENT.items())]
    lines.append(f"operations: {len(list(schema.get_all_operations()))}")
    lines.append(f"seconds: {time.monotonic() - started:.0f}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "schemathesis-summary.txt").write_text("\n".join(lines) + "\n")


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
    SENT["cases, every role"] += 1
    case.call_and_validate(base_url=target.base_url)


def test_stateful_sequences_conform(target):
    failures: list[BaseException] = []

    class Counted(schema.as_state_machine()):  # type: ignore[misc]
        def after_call(self, response, case):
            SENT["stateful steps"] += 1
            super().after_call(response, case)

        def validate_response(self, response, case, **kwargs):
            try:
                return super().validate_response(response, case, **kwargs)
            except BaseException as failure:
                failures.append(failure)
                raise

    # The sequences follow a live server, whose records the earlier steps changed, so Hypothesis
    # cannot always replay a prefix it has seen (schemathesis's own runner treats this the same
    # way). That is not a finding; a failed check is, and it is kept in `failures`.
    with contextlib.suppress(hypothesis.errors.FlakyStrategyDefinition):
        Counted.run()
    assert failures == []


# Records of "Contract Clinic" another organisation's user must never see, by id.
THIS_ORGANISATIONS_RECORDS = [value for name, value in IDS.items() if not name.startswith("other_")]


def paths_naming(pattern: str) -> schemathesis.schemas.BaseSchema:
    """The operations whose path names a record (`{document_id}`, ...), with the same configuration."""
    raw = schema.raw_schema
    paths = {path: item for path, item in raw["paths"].items() if re.search(pattern, path)}
    return schemathesis.openapi.from_dict({**raw, "paths": paths}, config=SchemathesisConfig.from_path(CONFIG))


def _refused_without_data(case, response, *, allowed: set[int]) -> None:
    declared = schema.raw_schema["paths"][case.path]
    if response.status_code == 405 and response.request.method.lower() not in declared:
        return  # the coverage phase's undeclared methods, refused before any record is looked up
    assert response.status_code in allowed, (case.method, case.formatted_path, response.status_code, response.text)
    leaked = [record for record in THIS_ORGANISATIONS_RECORDS if record in response.text]
    assert leaked == [], (case.method, case.formatted_path, response.text)


@paths_naming(r"\{document_id\}").parametrize()
def test_billing_user_cannot_reach_a_clinical_document(case, target):
    # document_id is the lab report (schemathesis.toml); billing staff see insurance documents only.
    SENT["cases, billing"] += 1
    response = case.call(base_url=target.base_url, headers=auth_headers("billing"))
    case.validate_response(response)
    # A document_id that is not an id matches no URL (404); any real one of another category is 403.
    path_is_negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH)
    _refused_without_data(case, response, allowed={403, 404} if path_is_negative else {403})


@paths_naming(r"\{[a-z_]+\}").parametrize()
def test_another_organisations_user_gets_only_403_or_404(case, target):
    SENT["cases, another organisation"] += 1
    response = case.call(base_url=target.base_url, headers=auth_headers("other_organisation"))
    case.validate_response(response)
    _refused_without_data(case, response, allowed={403, 404})
