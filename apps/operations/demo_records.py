"""The demo's clinical records, so a newcomer sees every feature without preparing data.

Invented content only: a multi-page discharge summary, a lab report, a wound photo and a
consent form with annotations; a finalised letter, its amendment and a draft; a restricted
patient whose care team is the demo clinician (the second clinician must break the glass).
Everything goes through the same services as real use, so it is validated, stored, audited
and (in the embedded run) thumbnailed like any upload.
"""

from __future__ import annotations

import io
from datetime import date

from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from apps.accounts.models import User
from apps.documents.models import Document
from apps.documents.services.annotations import annotation_create
from apps.documents.services.upload import UploadRequest, document_upload
from apps.files.spooling import spool
from apps.letters.services import letter_amend, letter_create, letter_finalise, letter_update
from apps.patients.models import Patient
from apps.patients.services import patient_update

MAX_BYTES = 20 * 1024 * 1024


def _pdf(title: str, pages: list[list[str]]) -> bytes:
    """A small A4 PDF with real text on each page (so previews, page counts and search have content)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setTitle(title)
    width, height = A4
    for number, lines in enumerate(pages, start=1):
        canvas.setFont("Helvetica-Bold", 16)
        canvas.drawString(60, height - 80, title)
        canvas.setFont("Helvetica", 11)
        for index, line in enumerate(lines):
            canvas.drawString(60, height - 120 - index * 18, line)
        canvas.setFont("Helvetica", 8)
        canvas.drawString(width - 140, 40, f"Page {number} of {len(pages)}")
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _photo() -> bytes:
    """An invented 'wound photo': a soft pink patch on a pale background, with a scale bar."""
    image = Image.new("RGB", (960, 720), (236, 226, 214))
    draw = ImageDraw.Draw(image)
    draw.ellipse((330, 230, 640, 470), fill=(214, 140, 140), outline=(170, 90, 90), width=6)
    draw.rectangle((80, 640, 380, 660), fill=(40, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _upload(clinician: User, patient: Patient, data: bytes, filename: str, **fields) -> Document:
    item = UploadRequest(spooled=spool([data], max_bytes=MAX_BYTES), filename=filename, **fields)
    return document_upload(actor=clinician, patient=patient, item=item)


def seed_records(*, clinician: User, colleague: User, patients: list[Patient]) -> bool:
    """Add the demo's records once (nothing is done when the first patient already has documents)."""
    first, restricted = patients[0], patients[1]
    if Document.objects.filter(patient=first).exists():
        return False
    summary = _upload(
        clinician,
        first,
        _pdf(
            "Discharge summary — Riverside General",
            [
                [
                    "Admitted 2 November 2026 with a painful swollen right knee.",
                    "Aspiration: no crystals, culture negative.",
                ],
                ["Treated with rest, ice and physiotherapy.", "Discharged 5 November 2026, walking with a stick."],
                ["Follow-up: knee clinic in six weeks.", "Medication: paracetamol 1 g four times a day as needed."],
            ],
        ),
        "discharge-summary.pdf",
        category="clinical-note",
        title="Discharge summary",
        document_date=date(2026, 11, 5),
        encounter_id="ENC-2026-1102",
    )
    _upload(
        clinician,
        first,
        _pdf(
            "Full blood count",
            [["Haemoglobin 138 g/L (130–180)", "White cells 7.2 x10^9/L (4.0–11.0)", "Platelets 251 x10^9/L"]],
        ),
        "fbc.pdf",
        category="lab",
        title="Full blood count",
        document_date=date(2026, 11, 3),
        encounter_id="ENC-2026-1102",
    )
    _upload(clinician, first, _photo(), "knee.jpg", category="photo", title="Right knee, day 3",
            document_date=date(2026, 11, 4))  # fmt: skip
    _upload(
        clinician,
        first,
        _pdf("Consent to knee aspiration", [["I agree to the aspiration of my right knee.", "Signed: E. Marwood"]]),
        "consent.pdf",
        category="consent",
        title="Consent to aspiration",
        document_date=date(2026, 11, 2),
    )
    if summary.is_available:  # with a virus scanner on, annotations wait for the clean verdict
        _annotate(clinician, colleague, summary)
    _letters(clinician, colleague, first)
    # Restricting the record puts the clinician on its care team; the colleague must break the glass.
    patient_update(actor=clinician, patient=restricted, fields={"restricted": True})
    _upload(
        clinician,
        restricted,
        _pdf("Referral to clinical psychology", [["Confidential referral.", "Seen by the care team only."]]),
        "referral.pdf",
        category="referral",
        title="Confidential referral",
        document_date=date(2026, 10, 20),
    )
    return True


def _letters(clinician: User, colleague: User, patient: Patient) -> None:
    """A letter finalised and then amended (both PDFs kept), and a draft a colleague may finish."""
    original = letter_finalise(
        actor=clinician,
        letter=letter_create(
            actor=clinician,
            patient=patient,
            recipient_name="Dr J Okafor",
            recipient_role="General Practitioner",
            recipient_address="Riverside Surgery\n2 High Street\nDemo Town",
            subject="Knee clinic follow-up",
            body="# Assessment\nThe right knee is **improving**.\n\n- Continue physiotherapy\n- Review in six weeks",
            clinical_date=date(2026, 11, 20),
        ),
    )
    amendment = letter_amend(actor=clinician, letter=original)
    letter_update(
        actor=clinician,
        letter=amendment,
        body="# Assessment\nThe right knee is **improving**.\n\n- Continue physiotherapy\n- Review in **four** weeks",
    )
    letter_finalise(actor=clinician, letter=amendment)
    letter_create(
        actor=colleague,
        patient=patient,
        recipient_name="Physiotherapy department",
        subject="Referral for knee rehabilitation",
        body="Please see Mr Marwood for a six-week programme.",
        clinical_date=date(2026, 12, 1),
    )


def _annotate(clinician: User, colleague: User, summary: Document) -> None:
    annotation_create(actor=clinician, document=summary, kind="marker", page=1, geometry={"x": 0.2, "y": 0.2})
    annotation_create(
        actor=clinician,
        document=summary,
        kind="highlight",
        page=2,
        geometry={"x": 0.08, "y": 0.16, "width": 0.6, "height": 0.05},
    )
    annotation_create(
        actor=colleague, document=summary, kind="text", page=3, geometry={"x": 0.1, "y": 0.3},
        text="Book the knee clinic before discharge.",
    )  # fmt: skip
