"""The access report in words (names, titles, labels), filtered by date, person and action, and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.letters.services import letter_create
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(organisation, clinician, patient, filesystem_storage):
    """A colleague opened the record and a document; the clinician wrote a letter."""
    colleague = factories.make_user(organisation, ["clinician"], full_name="Dr Grace Hopper")
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Discharge summary")
    colleague_client = factories.signed_in_client(colleague)
    colleague_client.get(f"/patients/{patient.pk}/")
    colleague_client.get(f"/documents/{document.pk}/")
    letter_create(actor=clinician, patient=patient, subject="Knee clinic")
    return {"colleague": colleague, "document": document}


def _report(client, patient, **params):
    return client.get(f"/patients/{patient.pk}/access-report/", params)


def test_the_report_names_people_documents_and_letters(clinician, patient, history):
    page = _report(factories.signed_in_client(clinician), patient).content.decode()

    assert "Dr Grace Hopper" in page and history["colleague"].email not in page
    assert "Opened the document page" in page and ">Discharge summary<" in page
    assert "Letter “Knee clinic”" in page


def test_the_report_filters_by_person_and_action(clinician, patient, history):
    client = factories.signed_in_client(clinician)

    mine = _report(client, patient, person=clinician.pk).content.decode()
    viewed = _report(client, patient, action="document.viewed").content.decode()

    assert "Dr Grace Hopper" not in mine.split("<tbody>")[1]
    assert viewed.split("<tbody>")[1].count("<tr>") == 1 and "Discharge summary" in viewed


def test_the_report_filters_by_date(clinician, patient, history):
    client = factories.signed_in_client(clinician)
    today = timezone.localdate()

    assert "Dr Grace Hopper" in _report(client, patient, date_from=today.isoformat()).content.decode()
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert (
        "Nothing in this record's access report matches"
        in _report(client, patient, date_from=tomorrow).content.decode()
    )


@pytest.mark.parametrize(
    "params",
    [{"date_from": "2026-12-31", "date_to": "2026-01-01"}, {"person": "999999"}, {"action": "made.up"}],
    ids=["reversed-range", "unknown-person", "unknown-action"],
)
def test_filters_that_cannot_be_read_list_nothing(clinician, patient, history, params):
    page = _report(factories.signed_in_client(clinician), patient, **params).content.decode()

    assert "Nothing was listed: correct the filters above" in page
    assert "<tbody>" not in page


def test_the_report_exports_as_csv_and_the_export_is_audited(clinician, patient, history):
    client = factories.signed_in_client(clinician)

    response = _report(client, patient, format="csv", person=history["colleague"].pk)

    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["When", "Who", "What", "About", "Outcome", "Details"]
    assert {row[1] for row in rows[1:]} == {"Dr Grace Hopper"}
    assert ["Opened the document page", "Discharge summary"] in [row[2:4] for row in rows[1:]]
    exported = AuditEvent.objects.get(action="patient.access_report.exported")
    assert exported.details["rows"] == len(rows) - 1


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(organisation, clinician, patient, filesystem_storage):
    mischief = factories.make_user(organisation, ["clinician"], full_name="=HYPERLINK(1)")
    factories.signed_in_client(mischief).get(f"/patients/{patient.pk}/")

    rows = list(
        csv.reader(io.StringIO(_report(factories.signed_in_client(clinician), patient, format="csv").content.decode()))
    )

    assert "'=HYPERLINK(1)" in [row[1] for row in rows]
    assert "=HYPERLINK(1)" not in [row[1] for row in rows]


def test_the_first_page_lists_every_earlier_event_the_oldest_included(clinician, patient, history):
    # given fewer events than a page holds
    earlier = list(AuditEvent.objects.filter(patient_id=patient.pk).order_by("-occurred_at", "-sequence"))
    assert 1 < len(earlier) < 25

    # when the report is read
    page = _report(factories.signed_in_client(clinician), patient).content.decode()

    # then each of them is a row, and the reading itself (recorded as it happens) waits for the next one
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == len(earlier)
    assert "Looked at this access report" not in body
