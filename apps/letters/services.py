"""Changing letters: create and edit drafts, finalise (PDF + document + outbox), amend.

Views, API views and commands call these; the caller has already fetched the
patient or letter through `apps.letters.selectors` (organisation, patient rules).
Writing is for clinicians; a refusal here is audited once.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_denied, audit_record
from apps.documents.models import Category, Document
from apps.documents.services.upload import UploadRequest, document_new_version, document_upload
from apps.files import storage
from apps.files.spooling import spool
from apps.letters.errors import (
    ClinicianRequired,
    LetterAlreadyAmended,
    LetterFinal,
    LetterIncomplete,
    LetterInvalid,
    LetterNotFinal,
)
from apps.letters.models import Letter, LetterStatus, letter_max_length
from apps.letters.pdf import LetterPdf, render_letter_pdf
from apps.outbox.models import Target
from apps.outbox.services import outbox_enqueue
from apps.patients.models import Patient

logger = logging.getLogger(__name__)

OUTBOX_KIND = "letter_composition"
EDITABLE_FIELDS = (
    "recipient_name",
    "recipient_role",
    "recipient_address",
    "subject",
    "body",
    "clinical_date",
    "encounter_id",
)
_LABELS = {
    "recipient_name": "Recipient name",
    "recipient_role": "Recipient role",
    "recipient_address": "Recipient address",
    "subject": "Subject",
    "body": "Letter text",
    "encounter_id": "Encounter",
    "clinical_date": "Clinical date",
}


# --- checks ---------------------------------------------------------------------


def _ensure_clinician(*, actor: User, patient_id: Any, attempted: str, object_id: Any = "") -> None:
    if actor.has_role("clinician"):
        return
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=actor,
        reason="clinician_required",
        patient_id=patient_id,
        object_type="letter",
        object_id=object_id or patient_id,
        details={"attempted": attempted},
    )
    raise ClinicianRequired()


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """Only editable fields, stripped and within limits; LetterInvalid names every problem."""
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    problems: dict[str, str] = dict.fromkeys(unknown, "This field cannot be set.")
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name in unknown:
            continue
        if name == "clinical_date":
            problems.update(_check_clinical_date(value))
            cleaned[name] = value
            continue
        if value is None:
            value = ""
        if not isinstance(value, str):
            problems[name] = f"{_LABELS[name]} must be text."
            continue
        value = value.replace("\r\n", "\n").replace("\x00", "")
        value = value if name == "body" else value.strip()
        max_length = letter_max_length(name)
        if len(value) > max_length:
            problems[name] = f"{_LABELS[name]} is longer than {max_length:,} characters."
            continue
        cleaned[name] = value
    if problems:
        raise LetterInvalid(problems)
    return cleaned


def _check_clinical_date(value: Any) -> dict[str, str]:
    if not isinstance(value, date):
        return {"clinical_date": "Enter the clinical date as a date, for example 2024-05-01."}
    if value > timezone.localdate():
        return {"clinical_date": "The clinical date cannot be in the future."}
    return {}


def _incomplete_fields(letter: Letter) -> dict[str, str]:
    """One message per missing part, in the words a clinician would use."""
    missing: dict[str, str] = {}
    if not letter.subject.strip():
        missing["subject"] = "Add a subject before finalising."
    if not letter.body.strip():
        missing["body"] = "Write the letter text before finalising."
    if not letter.recipient_name.strip():
        missing["recipient_name"] = "Say who the letter is for (recipient name) before finalising."
    if letter.clinical_date > timezone.localdate():
        missing["clinical_date"] = "The clinical date cannot be in the future."
    return missing


def _lock(letter: Letter) -> Letter:
    return (
        Letter.objects.select_for_update(of=("self",))
        .select_related("patient", "author", "organisation")
        .get(pk=letter.pk)
    )


def _audit(action: Action, *, actor: User, letter: Letter, details: dict[str, Any] | None = None) -> None:
    audit_record(
        action=action,
        actor=actor,
        organisation_id=letter.organisation_id,
        patient_id=letter.patient_id,
        object_type="letter",
        object_id=letter.pk,
        details=details or {},
    )


def letter_mark_viewed(*, actor: User, letter: Letter, channel: str) -> None:
    """Record that `actor` read `letter` (portal or API); reading is audited like any change."""
    _audit(Action.LETTER_VIEWED, actor=actor, letter=letter, details={"channel": channel})


def letters_mark_listed(*, actor: User, patient: Patient, channel: str) -> None:
    """Record that `actor` listed `patient`'s letters (portal or API)."""
    audit_record(
        action=Action.LETTER_LISTED,
        actor=actor,
        organisation_id=patient.organisation_id,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        details={"channel": channel},
    )


# --- drafts ---------------------------------------------------------------------


def letter_create(*, actor: User, patient: Patient, **values: Any) -> Letter:
    """A new draft about `patient` (authorised by `letter_patient_for(write=True)`), written by `actor`."""
    _ensure_clinician(actor=actor, patient_id=patient.pk, attempted="letter.create")
    cleaned = _clean(values)
    with transaction.atomic():
        letter = Letter.objects.create(
            organisation_id=patient.organisation_id, patient=patient, author=actor, **cleaned
        )
        _audit(Action.LETTER_CREATED, actor=actor, letter=letter, details={"fields": sorted(cleaned)})
    return letter


def letter_update(*, actor: User, letter: Letter, **values: Any) -> Letter:
    """Change a draft. A final letter is immutable (LetterFinal, 409). No change, no write and no event."""
    _ensure_clinician(actor=actor, patient_id=letter.patient_id, attempted="letter.update", object_id=letter.pk)
    cleaned = _clean(values)
    with transaction.atomic():
        locked = _lock(letter)
        if locked.status != LetterStatus.DRAFT:
            raise LetterFinal()
        changed = sorted(name for name, value in cleaned.items() if getattr(locked, name) != value)
        if changed:
            for name in changed:
                setattr(locked, name, cleaned[name])
            locked.save(update_fields=[*changed, "updated_at"])
            # Field names only: the text itself is the letter's, not the audit log's.
            _audit(Action.LETTER_UPDATED, actor=actor, letter=locked, details={"fields": changed})
    return locked


def letter_amend(*, actor: User, letter: Letter) -> Letter:
    """A new draft that corrects final `letter`, prefilled from it. An open draft amendment is reused."""
    _ensure_clinician(actor=actor, patient_id=letter.patient_id, attempted="letter.amend", object_id=letter.pk)
    with transaction.atomic():
        locked = _lock(letter)
        if locked.status != LetterStatus.FINAL:
            raise LetterNotFinal()
        amendments = Letter.objects.filter(amends=locked)
        if amendments.filter(status=LetterStatus.FINAL).exists():
            raise LetterAlreadyAmended()
        draft = amendments.filter(status=LetterStatus.DRAFT).order_by("created_at").first()
        if draft is not None:
            return draft
        draft = Letter.objects.create(
            organisation_id=locked.organisation_id,
            patient_id=locked.patient_id,
            author=actor,
            amends=locked,
            **{name: getattr(locked, name) for name in EDITABLE_FIELDS},
        )
        _audit(Action.LETTER_CREATED, actor=actor, letter=draft, details={"amends": str(locked.pk)})
    return draft


# --- finalise -------------------------------------------------------------------


def letter_finalise(*, actor: User, letter: Letter) -> Letter:
    """Make a draft final: render its PDF, store it as a `letter` document, queue the openEHR push.

    One database transaction holds the letter row lock, the document row (written
    by `document_upload` as a savepoint), the letter update, the outbox message and
    the audit events, so nobody ever sees a final letter without its document or a
    letter document without a final letter. The object written before the
    database commit is removed if anything after it fails (docs/letters.md).
    """
    _ensure_clinician(actor=actor, patient_id=letter.patient_id, attempted="letter.finalise", object_id=letter.pk)
    stored_key = ""
    try:
        with transaction.atomic():
            locked = _lock(letter)
            if locked.status != LetterStatus.DRAFT:
                raise LetterFinal("This letter is already final.")
            missing = _incomplete_fields(locked)
            if missing:
                raise LetterIncomplete(missing)
            now = timezone.now()
            locked.signed_by = actor  # whoever finalises signs, also a colleague's draft
            document = _store_pdf(actor=actor, letter=locked)
            stored_key = document.storage_key
            locked.status = LetterStatus.FINAL
            locked.finalised_at = now
            locked.document = document
            locked.save(update_fields=["status", "finalised_at", "document", "signed_by", "updated_at"])
            outbox_enqueue(
                target=Target.OPENEHR,
                kind=OUTBOX_KIND,
                object_id=str(locked.pk),
                organisation_id=locked.organisation_id,
            )
            _audit(
                Action.LETTER_FINALISED,
                actor=actor,
                letter=locked,
                details={
                    "document_id": str(document.pk),
                    "sha256": document.sha256,
                    "amends": str(locked.amends_id) if locked.amends_id else "",
                    "author_id": locked.author_id,
                    "signed_by_id": actor.pk,
                },
            )
    except BaseException:
        if stored_key:
            _remove_object(stored_key)
        raise
    return locked


def _store_pdf(*, actor: User, letter: Letter) -> Document:
    pdf = render_letter_pdf(letter_pdf_content(letter, signing=True))
    item = UploadRequest(
        spooled=spool([pdf], max_bytes=settings.QUILL_MAX_UPLOAD_BYTES),
        filename=f"letter-{letter.clinical_date:%Y-%m-%d}.pdf",
        category=Category.LETTER,
        title=letter.subject,
        encounter_id=letter.encounter_id,
        document_date=letter.clinical_date,
        sealed=True,
    )
    replaced = _document_to_replace(letter)
    if replaced is not None:
        return document_new_version(actor=actor, current=replaced, item=item)
    return document_upload(actor=actor, patient=letter.patient, item=item)


def _document_to_replace(letter: Letter) -> Document | None:
    """An amendment's PDF is the next version of the amended letter's document, while that is current."""
    if not letter.amends_id:
        return None
    original = Document.objects.filter(letter__pk=letter.amends_id).first()
    if original is None or not original.is_current or original.deleted_at is not None:
        return None
    return original


def _remove_object(key: str) -> None:
    try:
        storage.delete(key)
    except Exception:  # the orphan sweep removes what this cannot
        logger.exception("could not remove a letter PDF after a failed finalise", extra={"key": key})


def letter_pdf_content(letter: Letter, *, signing: bool = False, signer: User | None = None) -> LetterPdf:
    """What the PDF prints, from the letter and its patient, signatory and organisation.

    ``signing`` is the rendering stored when the letter is finalised; any other rendering of
    a draft (its preview) says that it is a draft, not yet signed. ``signer`` is who a draft's
    preview names as signatory: whoever would finalise it now (default: the letter's signatory).
    """
    patient, organisation = letter.patient, letter.organisation
    signatory = signer if signer is not None and letter.status == LetterStatus.DRAFT else letter.signatory
    amends_note = None
    original = letter.amends
    if original is not None:
        amends_note = (
            f"This letter corrects and replaces the letter “{original.subject}” "
            f"dated {original.clinical_date:%d %B %Y}."
        )
    return LetterPdf(
        organisation_name=organisation.name,
        organisation_address=tuple(line.strip() for line in organisation.address.splitlines() if line.strip()),
        patient_name=patient.display_name,
        nhs_number=patient.nhs_number,
        mrn=patient.mrn,
        date_of_birth=patient.date_of_birth,
        letter_date=letter.clinical_date,
        recipient_name=letter.recipient_name,
        recipient_role=letter.recipient_role,
        recipient_address=tuple(line.strip() for line in letter.recipient_address.splitlines() if line.strip()),
        subject=letter.subject,
        body=letter.body,
        author_name=signatory.full_name or signatory.email,
        author_role="Clinician",
        status=(
            ("amended" if letter.amends_id else "final")
            if signing or letter.status == LetterStatus.FINAL
            else "draft, not signed"
        ),
        amends_note=amends_note,
    )
