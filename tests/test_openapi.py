"""The REST API's OpenAPI schema is complete and says what the server does (tests/api checks it live)."""

from __future__ import annotations

import re

import pytest
import yaml
from django.core.management import call_command
from django.urls import resolve

import quill.api
from tests.factories import signed_in_client


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    target = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    return yaml.safe_load(target.read_text())


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _json(schema, operation, status):
    return _resolve(schema, operation["responses"][str(status)]["content"]["application/json"]["schema"])


def test_schema_validates_without_warnings_and_leaves_fhir_out(schema):
    paths = schema["paths"]
    for path in ("/api/patients/", "/api/documents/", "/api/documents/bulk/", "/api/documents/{document_id}/content"):
        assert path in paths, path
    assert not any(path.startswith("/fhir/") for path in paths)


@pytest.mark.parametrize(
    ("path", "item"),
    [
        ("/api/documents/", "Document"),
        ("/api/patients/", "PatientListItem"),
        ("/api/audit/", "AuditEvent"),
        ("/api/patients/{patient_id}/letters/", "Letter"),
    ],
)
def test_lists_are_documented_as_pages(schema, path, item):
    operation = schema["paths"][path]["get"]
    page = _json(schema, operation, 200)
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert page["properties"]["results"]["items"]["$ref"].endswith(f"/{item}")
    assert {"page", "page_size"} <= {parameter["name"] for parameter in operation["parameters"]}


def test_restricted_patients_in_lists_have_their_own_schema(schema):
    item = schema["components"]["schemas"]["PatientListItem"]
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in item["oneOf"]] == ["Patient", "RestrictedPatient"]
    restricted = schema["components"]["schemas"]["RestrictedPatient"]
    assert set(restricted["required"]) == set(restricted["properties"])


def test_every_refusal_has_the_error_shape_with_its_codes(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                body = _resolve(schema, response["content"]["application/json"]["schema"])
                code = body["properties"]["detail"]["properties"]["error_code"]
                assert code["enum"], (method, path, status)


def test_document_operations_name_their_refusals(schema):
    download = schema["paths"]["/api/documents/{document_id}/content"]["get"]
    assert {"200", "206", "304", "400", "401", "403", "404", "409", "416", "429", "503"} <= set(download["responses"])
    assert set(download["responses"]["200"]["content"]) == {
        "application/pdf", "image/jpeg", "image/png", "image/tiff", "application/dicom"
    }  # fmt: skip
    headers = {parameter["name"] for parameter in download["parameters"] if parameter["in"] == "header"}
    assert {"Range", "If-None-Match", "If-Range"} <= headers
    assert {"ETag", "Repr-Digest", "Content-Disposition"} <= set(download["responses"]["200"]["headers"])
    codes_404 = _json(schema, download, 404)["properties"]["detail"]["properties"]["error_code"]["enum"]
    assert codes_404 == ["not_found"]
    codes_409 = _json(schema, download, 409)["properties"]["detail"]["properties"]["error_code"]["enum"]
    assert {"scan_pending", "quarantined", "document_corrupt"} <= set(codes_409)


def test_uploads_document_their_files(schema):
    form = schema["paths"]["/api/documents/"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert _resolve(schema, form)["properties"]["file"]["format"] == "binary"
    bulk = schema["paths"]["/api/documents/bulk/"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert _resolve(schema, bulk)["properties"]["files"]["items"]["format"] == "binary"
    direct = schema["paths"]["/api/documents/upload/"]["post"]
    assert "application/octet-stream" in direct["requestBody"]["content"]
    assert "Repr-Digest" in {parameter["name"] for parameter in direct["parameters"]}
    assert "411" in direct["responses"]


def test_delete_needs_a_reason_and_answers_the_document(schema):
    delete = schema["paths"]["/api/documents/{document_id}/"]["delete"]
    reason = next(parameter for parameter in delete["parameters"] if parameter["name"] == "reason")
    assert reason["required"] and reason["schema"]["minLength"] == 5
    assert _json(schema, delete, 200) == schema["components"]["schemas"]["Document"]


def test_amending_documents_both_new_and_reused_drafts(schema):
    assert {"200", "201"} <= set(schema["paths"]["/api/letters/{letter_id}/amend/"]["post"]["responses"])


def test_json_bodies_refuse_unknown_keys_and_category_is_the_enum(schema):
    update = schema["components"]["schemas"]["PatchedDocumentUpdateRequest"]
    assert update["additionalProperties"] is False
    assert _resolve(schema, update["properties"]["category"])["enum"] == [
        "lab", "imaging", "clinical-note", "consent", "referral", "insurance", "photo", "letter", "other"
    ]  # fmt: skip


def _error_codes(schema, operation, status):
    return set(_json(schema, operation, status)["properties"]["detail"]["properties"]["error_code"]["enum"])


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_operation_lists_its_query_parameters_exactly_as_the_server_takes_them(schema):
    # the server refuses any query parameter it does not take (quill.api.APIView): the schema must list the same
    for path, method, operation in _operations(schema):
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        address = re.sub(r"\{[a-z_]+\}", lambda match: ID_FOR.get(match.group(0), ""), path)
        view = resolve(address).func.view_class
        assert issubclass(view, quill.api.APIView), path
        taken = set(view.query_parameters.get(method, ()))
        assert taken == documented, f"{method.upper()} {path}"
        assert "unknown_parameter" in _error_codes(schema, operation, 400), f"{method.upper()} {path}"


ID_FOR = {
    "{document_id}": "0b0e2a3c-5d1f-4c8e-9a7b-1c2d3e4f5a6b",
    "{patient_id}": "1b0e2a3c-5d1f-4c8e-9a7b-1c2d3e4f5a6b",
    "{letter_id}": "2b0e2a3c-5d1f-4c8e-9a7b-1c2d3e4f5a6b",
    "{annotation_id}": "3b0e2a3c-5d1f-4c8e-9a7b-1c2d3e4f5a6b",
    "{review_id}": "4b0e2a3c-5d1f-4c8e-9a7b-1c2d3e4f5a6b",
    "{token}": "a-signed-token",
}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/documents/", "post"),
        ("/api/documents/bulk/", "post"),
        ("/api/documents/{document_id}/versions/", "post"),
        ("/api/documents/{document_id}/", "patch"),
        ("/api/patients/", "post"),
        ("/api/patients/{patient_id}/letters/", "post"),
        ("/api/inbox/merge/", "post"),
    ],
)
def test_bodies_allow_no_other_fields_and_say_how_they_are_refused(schema, path, method):
    operation = schema["paths"][path][method]
    body = next(iter(operation["requestBody"]["content"].values()))["schema"]
    assert _resolve(schema, body)["additionalProperties"] is False
    assert "unknown_field" in _error_codes(schema, operation, 400)


def test_an_operation_without_a_body_does_not_list_unknown_fields(schema):
    assert "unknown_field" not in _error_codes(schema, schema["paths"]["/api/documents/"]["get"], 400)
    assert "unknown_field" not in _error_codes(schema, schema["paths"]["/api/documents/upload/"]["post"], 400)


@pytest.mark.django_db
def test_swagger_ui_is_served_from_quills_own_static_files(administrator):
    page = signed_in_client(administrator).get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn.jsdelivr.net" not in html and "swagger-ui-dist@" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html


def test_what_an_operation_creates_links_to_the_operations_on_it(schema):
    operations = {operation["operationId"]: operation for _, _, operation in _operations(schema)}
    links = {
        (operation_id, status): response["links"]
        for operation_id, operation in operations.items()
        for status, response in operation["responses"].items()
        if "links" in response
    }
    # a stored document leads to reading, downloading and amending it; a patient to their letters
    assert links[("documents_create", "201")]["DocumentsContentRetrieve"] == {
        "operationId": "documents_content_retrieve",
        "parameters": {"document_id": "$response.body#/id"},
    }
    assert "PatientsLettersCreate" in links[("patients_create", "201")]
    assert "LettersFinaliseCreate" in links[("patients_letters_create", "201")]
    for (operation_id, status), named in links.items():
        body = _resolve(schema, next(iter(operations[operation_id]["responses"][status]["content"].values()))["schema"])
        for link in named.values():
            target = operations[link["operationId"]]
            path_parameters = {p["name"] for p in target["parameters"] if p["in"] == "path"}
            for parameter, expression in link["parameters"].items():
                # each names a path parameter of its target, taken from a property the response has
                assert parameter in path_parameters, (operation_id, link)
                assert expression.removeprefix("$response.body#/") in body["properties"], (operation_id, link)
