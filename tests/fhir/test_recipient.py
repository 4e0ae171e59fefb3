"""ITI-65 Provide Document Bundle: Quill as an IHE MHD Document Recipient, over HTTP.

A test Document Source (``tests.fhir.mhd_bundles``) builds each bundle with fhir.resources;
each MHD transaction's expected result is checked: success, a resend, a bad document, an
unknown patient, an infected document, an oversize document, a wrong size or hash, and
another organisation's token. Real PostgreSQL, real storage folder, real clamd where
a scan matters; nothing is mocked.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.documents.tasks import scan_document
from apps.fhir.models import SubmissionSet, SubmissionSetEntry
from apps.outbox.models import OutboxMessage
from tests.documents import samples
from tests.factories import VALID_NHS_NUMBERS, make_patient, token_client
from tests.fhir.mhd_bundles import Doc, as_json, nhs_subject, provide_bundle
from tests.services.clamd import QUILL_TEST_MALWARE

PUBLIC_BASE = "https://quill.example.test"
FHIR = "/fhir/r4"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings, filesystem_storage, upload_tmp):
    settings.QUILL_PUBLIC_BASE_URL = PUBLIC_BASE
    settings.QUILL_FHIR_BASE_URL = ""
    settings.QUILL_SCANNER = "none"  # the scan test turns clamd on with the scanner fixture
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api(clinician):
    return token_client(clinician, keyword="Bearer")


@pytest.fixture
def registered(organisation):
    return make_patient(organisation, nhs_number=VALID_NHS_NUMBERS[0], given_name="Ada", family_name="Lovelace")


def _post(api, bundle, *, path=FHIR):
    return api.generic("POST", path, as_json(bundle), content_type="application/fhir+json")


def _objects(folder) -> list[str]:
    return [name for _, _, names in os.walk(folder) for name in names] if os.path.exists(folder) else []


def _refused(response, status: int, error_code: str, entry: int | None):
    assert response.status_code == status, response.content
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    (issue,) = outcome["issue"]
    assert issue["details"]["coding"][0]["code"] == error_code
    if entry is not None:
        assert issue["expression"] == [f"Bundle.entry[{entry}]"]
    return issue


def _nothing_stored(storage_folder, upload_folder) -> None:
    assert not Document.objects.exists()
    assert not SubmissionSet.objects.exists()
    assert not OutboxMessage.objects.exists()
    assert _objects(storage_folder) == []
    assert os.listdir(upload_folder) == []
    assert not AuditEvent.objects.filter(action="document.uploaded").exists()


# --- Success -------------------------------------------------------------------------------------


def test_a_bundle_of_two_documents_is_stored_and_answered_entry_by_entry(
    api, registered, filesystem_storage, upload_tmp, django_capture_on_commit_callbacks
):
    dated, undated = Doc(samples.pdf(2)), Doc(samples.png(40, 30), content_type="image/png", creation=None)
    bundle = provide_bundle([dated, undated], subject=nhs_subject(registered.nhs_number))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(api, bundle)

    assert response.status_code == 200, response.content
    answer = response.json()
    Bundle.model_validate(answer)
    assert answer["type"] == "transaction-response"
    # One response per request entry, in the same order, each created with a location.
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds == ["List", "DocumentReference", "Binary", "DocumentReference", "Binary"]
    locations = [entry["response"]["location"] for entry in answer["entry"]]
    assert [entry["response"]["status"] for entry in answer["entry"]] == ["201 Created"] * 5
    assert [location.split("/")[0] for location in locations] == kinds
    assert locations[1].split("/")[1] == locations[2].split("/")[1]  # a Binary is its DocumentReference's content
    documents = Document.objects.filter(patient=registered).order_by("title", "content_type")
    assert {str(document.pk) for document in documents} == {locations[1].split("/")[1], locations[3].split("/")[1]}
    assert all(document.scan_status == ScanStatus.NOT_SCANNED for document in documents)
    assert len(_objects(filesystem_storage)) == 2
    assert os.listdir(upload_tmp) == []
    submission_set = SubmissionSet.objects.get()
    assert locations[0] == f"List/{submission_set.pk}"
    assert submission_set.patient == registered
    assert list(submission_set.entries.values_list("master_identifier_value", flat=True)) == [
        dated.master_identifier,
        undated.master_identifier,
    ]
    # The same pipeline as every upload: audited per document, thumbnail and text reading queued after commit.
    assert AuditEvent.objects.filter(action="document.uploaded").count() == 2
    assert AuditEvent.objects.filter(action="fhir.bundle_received").count() == 1
    assert len(callbacks) == 4


def test_a_received_document_is_served_with_the_submitters_identifier_and_dates(api, registered):
    dated, undated = Doc(samples.pdf(), creation="2025-02-01"), Doc(samples.pdf(1), creation=None)
    answer = _post(api, provide_bundle([dated, undated], subject=nhs_subject(registered.nhs_number))).json()
    first, second = (entry["response"]["location"] for entry in answer["entry"][1::2])

    served = api.get(f"{FHIR}/{first}").json()
    assert served["masterIdentifier"] == {
        "use": "usual",
        "system": "urn:ietf:rfc:3986",
        "value": dated.master_identifier,
    }
    assert served["content"][0]["attachment"]["creation"] == "2025-02-01"
    assert served["type"]["coding"][0]["code"] == "11502-2"
    assert served["category"][0]["coding"][0]["code"] == "lab"
    undated_served = api.get(f"{FHIR}/{second}").json()
    assert "creation" not in undated_served["content"][0]["attachment"]
    assert "period" not in undated_served["context"]


def test_the_patient_may_be_named_by_reference(api, registered):
    bundle = provide_bundle([Doc(samples.pdf())], subject={"reference": f"Patient/{registered.pk}"})

    assert _post(api, bundle).status_code == 200
    assert Document.objects.filter(patient=registered).count() == 1


def test_the_patient_may_be_named_by_mrn(api, registered):
    subject = {"identifier": {"system": "urn:quill:mrn", "value": registered.mrn}}

    assert _post(api, provide_bundle([Doc(samples.pdf())], subject=subject)).status_code == 200


def test_inline_attachment_data_is_taken_too(api, registered):
    bundle = provide_bundle([Doc(samples.pdf(), inline=True)], subject=nhs_subject(registered.nhs_number))

    response = _post(api, bundle)

    assert response.status_code == 200, response.content
    assert [entry["response"]["location"].split("/")[0] for entry in response.json()["entry"]] == [
        "List",
        "DocumentReference",
    ]


def test_the_base_url_with_a_trailing_slash_takes_the_bundle_too(api, registered):
    response = _post(
        api, provide_bundle([Doc(samples.pdf())], subject=nhs_subject(registered.nhs_number)), path=FHIR + "/"
    )

    assert response.status_code == 200


# --- Idempotency ---------------------------------------------------------------------------------


def test_a_resent_bundle_returns_the_original_result_and_stores_nothing_more(api, registered, filesystem_storage):
    bundle = provide_bundle([Doc(samples.pdf()), Doc(samples.pdf(1))], subject=nhs_subject(registered.nhs_number))
    first = _post(api, bundle)

    again = _post(api, bundle)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert Document.objects.count() == 2
    assert SubmissionSet.objects.count() == 1
    assert len(_objects(filesystem_storage)) == 2
    assert AuditEvent.objects.filter(action="fhir.bundle_received", details__resent=True).count() == 1


def test_a_resend_under_a_new_submission_set_id_still_returns_the_original_result(api, registered):
    docs = [Doc(samples.pdf())]
    first = _post(api, provide_bundle(docs, subject=nhs_subject(registered.nhs_number)))

    again = _post(api, provide_bundle(docs, subject=nhs_subject(registered.nhs_number)))

    assert again.json() == first.json()
    assert Document.objects.count() == 1


def test_a_submission_set_id_reused_for_other_documents_is_refused(api, registered, filesystem_storage):
    bundle = provide_bundle([Doc(samples.pdf())], subject=nhs_subject(registered.nhs_number))
    _post(api, bundle)
    unique_id = bundle["entry"][0]["resource"]["identifier"][0]["value"]

    response = _post(
        api, provide_bundle([Doc(samples.pdf(1))], subject=nhs_subject(registered.nhs_number), unique_id=unique_id)
    )

    _refused(response, 409, "mhd_duplicate_identifier", 0)
    assert Document.objects.count() == 1
    assert len(_objects(filesystem_storage)) == 1


def test_a_master_identifier_reused_with_a_new_document_is_refused(api, registered):
    reused = Doc(samples.pdf())
    _post(api, provide_bundle([reused], subject=nhs_subject(registered.nhs_number)))
    newcomer = Doc(samples.pdf(1))

    response = _post(
        api,
        provide_bundle(
            [newcomer, Doc(samples.pdf(3), master_identifier=reused.master_identifier)],
            subject=nhs_subject(registered.nhs_number),
        ),
    )

    _refused(response, 409, "mhd_duplicate_identifier", 3)
    assert Document.objects.count() == 1


# --- Refusals: nothing stored --------------------------------------------------------------------


def test_one_bad_document_refuses_the_whole_bundle_naming_it(
    api, registered, filesystem_storage, upload_tmp, django_capture_on_commit_callbacks
):
    docs = [Doc(samples.pdf()), Doc(samples.windows_executable(), title="Not a PDF"), Doc(samples.pdf(1))]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(api, provide_bundle(docs, subject=nhs_subject(registered.nhs_number)))

    issue = _refused(response, 415, "unsupported_type", 3)
    assert docs[1].master_identifier in issue["diagnostics"]
    assert "Nothing from this bundle was stored" in issue["diagnostics"]
    _nothing_stored(filesystem_storage, upload_tmp)
    assert callbacks == []
    refusal = AuditEvent.objects.get(action="fhir.bundle_refused")
    assert refusal.outcome == "denied" and refusal.details["entry"] == 3


def test_an_unknown_patient_is_an_unresolved_reference(api, registered, filesystem_storage, upload_tmp):
    bundle = provide_bundle([Doc(samples.pdf())], subject=nhs_subject(VALID_NHS_NUMBERS[1]))

    issue = _refused(_post(api, bundle), 422, "mhd_unresolved_reference", 0)

    assert issue["code"] == "not-found"
    assert "UnresolvedReferenceException" in issue["diagnostics"]
    _nothing_stored(filesystem_storage, upload_tmp)


def test_an_oversize_document_refuses_the_bundle(settings, api, registered, filesystem_storage, upload_tmp):
    settings.QUILL_MAX_UPLOAD_BYTES = 40_000
    docs = [Doc(samples.pdf(1)), Doc(samples.png(400, 300, mode="RGB") + b"\0" * 60_000, content_type="image/png")]

    issue = _refused(
        _post(api, provide_bundle(docs, subject=nhs_subject(registered.nhs_number))), 413, "file_too_large", 4
    )

    assert "Bundle.entry[4]" in issue["diagnostics"]
    _nothing_stored(filesystem_storage, upload_tmp)


@pytest.mark.parametrize(
    ("override", "what"),
    [({"size": 10}, "size"), ({"hash": "qvTGHdzF6KLavt4PO0gs2a6pQ00="}, "hash")],
    ids=["wrong-size", "wrong-hash"],
)
def test_a_size_or_hash_that_does_not_match_the_binary_refuses_the_bundle(
    api, registered, filesystem_storage, upload_tmp, override, what
):
    docs = [Doc(samples.pdf()), Doc(samples.pdf(1), **override)]

    issue = _refused(
        _post(api, provide_bundle(docs, subject=nhs_subject(registered.nhs_number))), 422, "mhd_attachment_mismatch", 3
    )

    assert f"attachment.{what}" in issue["diagnostics"]
    _nothing_stored(filesystem_storage, upload_tmp)


@pytest.mark.parametrize(
    ("change", "entry"),
    [
        (lambda bundle: bundle["entry"][1]["resource"].pop("masterIdentifier"), 1),
        (lambda bundle: bundle["entry"][1]["resource"].update(status="superseded"), 1),
        (lambda bundle: bundle["entry"][1]["resource"]["content"][0]["attachment"].update(url="urn:uuid:nowhere"), 1),
        (lambda bundle: bundle["entry"][0]["resource"].pop("extension"), 0),
        (lambda bundle: bundle["entry"][0]["resource"]["identifier"].pop(0), 0),
        (lambda bundle: bundle["entry"][0]["resource"].update(entry=[]), 1),
        (lambda bundle: bundle.update(type="batch"), None),
    ],
    ids=[
        "no-master-identifier",
        "not-current",
        "binary-not-in-bundle",
        "no-source-id",
        "no-unique-id",
        "document-not-in-submission-set",
        "not-a-transaction",
    ],
)
def test_an_invalid_bundle_is_refused_with_nothing_stored(
    api, registered, filesystem_storage, upload_tmp, change, entry
):
    bundle = provide_bundle([Doc(samples.pdf())], subject=nhs_subject(registered.nhs_number))
    change(bundle)

    _refused(_post(api, bundle), 400, "mhd_bundle_invalid", entry)

    _nothing_stored(filesystem_storage, upload_tmp)


def test_a_folder_is_refused_as_not_supported(api, registered):
    bundle = provide_bundle([Doc(samples.pdf())], subject=nhs_subject(registered.nhs_number))
    folder = dict(bundle["entry"][0], fullUrl="urn:uuid:folder")
    folder["resource"] = dict(
        folder["resource"],
        code={"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "folder"}]},
    )
    bundle["entry"].append(folder)

    issue = _refused(_post(api, bundle), 400, "mhd_not_supported", 3)

    assert issue["code"] == "not-supported"
    assert not Document.objects.exists()


def test_a_body_that_is_not_json_is_refused(api):
    response = api.generic("POST", FHIR, b'{"resourceType": "Bundle", "entry": [', content_type="application/fhir+json")

    _refused(response, 400, "mhd_bundle_invalid", None)


def test_a_body_that_is_not_fhir_json_is_415(api):
    response = api.generic("POST", FHIR, b"<Bundle/>", content_type="application/fhir+xml")

    _refused(response, 415, "unsupported_media_type", None)


# --- The scan -------------------------------------------------------------------------------------


def test_an_infected_document_is_stored_then_quarantined_like_any_upload(api, registered, scanner):
    infected = samples.pdf()
    head, _, tail = infected.rpartition(b"trailer")
    infected = head + b"% " + QUILL_TEST_MALWARE + b"\ntrailer" + tail

    response = _post(
        api, provide_bundle([Doc(samples.pdf()), Doc(infected)], subject=nhs_subject(registered.nhs_number))
    )

    assert response.status_code == 200, response.content
    clean_id, infected_id = (entry["response"]["location"].split("/")[1] for entry in response.json()["entry"][1::2])
    assert scan_document(clean_id) == "clean"
    assert scan_document(infected_id) == "infected"
    assert Document.objects.get(pk=infected_id).scan_status == ScanStatus.INFECTED
    _refused(api.get(f"{FHIR}/DocumentReference/{infected_id}"), 409, "quarantined", None)
    _refused(api.get(f"{FHIR}/Binary/{infected_id}"), 409, "quarantined", None)
    assert api.get(f"{FHIR}/DocumentReference/{clean_id}").status_code == 200


# --- Tenancy --------------------------------------------------------------------------------------


def test_another_organisations_token_gets_nothing_through_any_reference(
    registered, other_clinician, filesystem_storage, upload_tmp
):
    intruder = token_client(other_clinician, keyword="Bearer")
    for subject in (
        nhs_subject(registered.nhs_number),
        {"reference": f"Patient/{registered.pk}"},
        {"reference": f"{PUBLIC_BASE}/fhir/r4/Patient/{registered.pk}"},
        {"identifier": {"system": "urn:quill:mrn", "value": registered.mrn}},
        {"identifier": {"system": "urn:quill:patient", "value": str(registered.pk)}},
    ):
        response = _post(intruder, provide_bundle([Doc(samples.pdf())], subject=subject))
        _refused(response, 422, "mhd_unresolved_reference", 0)
    _nothing_stored(filesystem_storage, upload_tmp)


def test_another_organisations_resend_does_not_see_the_original_result(
    api, registered, other_clinician, other_organisation
):
    docs = [Doc(samples.pdf())]
    _post(api, provide_bundle(docs, subject=nhs_subject(registered.nhs_number)))
    theirs = make_patient(other_organisation, nhs_number=VALID_NHS_NUMBERS[2])
    intruder = token_client(other_clinician, keyword="Bearer")

    response = _post(intruder, provide_bundle(docs, subject=nhs_subject(theirs.nhs_number)))

    # Their own bundle, stored for their own patient: identifiers are per organisation.
    assert response.status_code == 200
    assert SubmissionSetEntry.objects.count() == 2
    assert Document.objects.filter(patient=theirs).count() == 1


def test_billing_staff_may_not_provide_documents(registered, billing_user):
    response = _post(
        token_client(billing_user), provide_bundle([Doc(samples.pdf())], subject=nhs_subject(registered.nhs_number))
    )

    assert response.status_code == 403
    assert not Document.objects.exists()


# --- ITI-66 --------------------------------------------------------------------------------------


def _lists(api, **params):
    response = api.get(f"{FHIR}/List", params)
    assert response.status_code == 200, response.content
    bundle = response.json()
    Bundle.model_validate(bundle)
    return bundle


def test_iti66_finds_the_submission_set_by_patient_code_and_status(api, registered, organisation):
    answer = _post(api, provide_bundle([Doc(samples.pdf())], subject=nhs_subject(registered.nhs_number))).json()
    other = make_patient(organisation, nhs_number=VALID_NHS_NUMBERS[3])
    _post(api, provide_bundle([Doc(samples.pdf(1))], subject=nhs_subject(other.nhs_number)))

    found = _lists(api, patient=str(registered.pk), code="submissionset", status="current")

    assert found["total"] == 1
    (entry,) = found["entry"]
    assert f"List/{entry['resource']['id']}" == answer["entry"][0]["response"]["location"]
    assert entry["resource"]["entry"] == [{"item": {"reference": answer["entry"][1]["response"]["location"]}}]
    assert _lists(api, patient=str(registered.pk), code="folder")["total"] == 0
    assert _lists(api, patient=str(registered.pk), status="retired")["total"] == 0
    assert _lists(api, **{"patient.identifier": f"https://fhir.nhs.uk/Id/nhs-number|{other.nhs_number}"})["total"] == 1


def test_iti66_finds_the_submission_set_by_its_identifier(api, registered):
    bundle = provide_bundle([Doc(samples.pdf())], subject=nhs_subject(registered.nhs_number))
    _post(api, bundle)
    unique_id = bundle["entry"][0]["resource"]["identifier"][0]["value"]

    assert _lists(api, identifier=f"urn:ietf:rfc:3986|{unique_id}")["total"] == 1
    assert _lists(api, identifier="urn:ietf:rfc:3986|urn:oid:1.2.3")["total"] == 0


def test_iti66_shows_another_organisation_nothing(api, registered, other_clinician):
    answer = _post(api, provide_bundle([Doc(samples.pdf())], subject=nhs_subject(registered.nhs_number))).json()
    intruder = token_client(other_clinician, keyword="Bearer")

    assert _lists(intruder, patient=str(registered.pk))["total"] == 0
    assert _lists(intruder, code="submissionset")["total"] == 0
    _refused(intruder.get(f"{FHIR}/{answer['entry'][0]['response']['location']}"), 404, "not_found", None)
    assert AuditEvent.objects.filter(action="access.denied", actor_id=other_clinician.pk).exists()


def test_iti66_refuses_an_unknown_status(api):
    _refused(api.get(f"{FHIR}/List?status=draft"), 400, "invalid_search_parameter", None)


def test_iti66_pages_with_cursors_latest_received_first_and_a_new_submission_does_not_shift_the_walk(api, registered):
    # given three received SubmissionSets
    sent = [
        _post(api, provide_bundle([Doc(samples.pdf(n + 1))], subject=nhs_subject(registered.nhs_number))).json()
        for n in range(3)
    ]
    ids = [answer["entry"][0]["response"]["location"].removeprefix("List/") for answer in sent]

    # when a consumer pages two at a time and a fourth arrives between the pages
    first = _lists(api, patient=str(registered.pk), _count="2")
    _post(api, provide_bundle([Doc(samples.pdf(9))], subject=nhs_subject(registered.nhs_number)))
    (next_url,) = [link["url"] for link in first["link"] if link["relation"] == "next"]
    second = api.get(next_url.removeprefix(PUBLIC_BASE))

    # then the walk is the three, latest received first, with no repeat and the same total
    assert second.status_code == 200, second.content
    walked = [entry["resource"]["id"] for page in (first, second.json()) for entry in page["entry"]]
    assert walked == ids[::-1]
    assert first["total"] == second.json()["total"] == 3
    assert "_offset" not in next_url and "_cursor=" in next_url


def test_iti66_takes_post_search_and_sorts_by_the_submission_date(api, registered):
    for n in range(2):
        _post(api, provide_bundle([Doc(samples.pdf(n + 1))], subject=nhs_subject(registered.nhs_number)))

    response = api.post(
        f"{FHIR}/List/_search",
        urlencode({"patient": str(registered.pk), "_sort": "date"}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200, response.content
    dates = [entry["resource"]["date"] for entry in response.json()["entry"]]
    assert len(dates) == 2 and dates == sorted(dates)
    _refused(api.get(f"{FHIR}/List?_sort=title"), 400, "invalid_search_parameter", None)
