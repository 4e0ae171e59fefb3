"""Build the FLAT (simSDT) composition of a finalised letter for ``quill_letter.v1``.

The Quill letter id travels in the report's own ``Report ID`` element
(``context/report_id``), so the composition can be found again by it (AQL, see
``client.EhrbaseClient.find_composition_by_report_id``) after a lost response.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from apps.letters.errors import FlatBuildError

from .template import TEMPLATE_ID

ROOT = "quill_letter"
STATUS_FINAL = "final"
STATUS_AMENDED = "amended"

# Keys, named once so callers and tests do not retype them.
KEY_START_TIME = f"{ROOT}/context/start_time"
KEY_REPORT_ID = f"{ROOT}/context/report_id"
KEY_STATUS = f"{ROOT}/context/status"
KEY_SUBJECT = f"{ROOT}/context/letter_details/subject"
KEY_RECIPIENT = f"{ROOT}/context/letter_details/recipient"
KEY_SYNOPSIS = f"{ROOT}/clinical_synopsis/synopsis"


@dataclass(frozen=True)
class LetterComposition:
    """What the openEHR push needs of a finalised letter (filled by the letters service)."""

    letter_id: uuid.UUID
    patient_id: str
    subject: str
    body: str
    recipient: str
    author_name: str
    clinical_time: datetime | date
    language: str = "en"
    territory: str = "GB"
    amends_composition_uid: str | None = None
    template_id: str = TEMPLATE_ID


def build_flat(letter: LetterComposition) -> dict[str, str]:
    """FLAT key/value pairs for ``letter``; every key is one the template admits."""
    _check(letter)
    start_time = _iso_datetime(letter.clinical_time)
    flat = {
        "ctx/language": letter.language,
        "ctx/territory": letter.territory,
        "ctx/composer_name": letter.author_name.strip(),
        "ctx/time": start_time,
        f"{ROOT}/language|code": letter.language,
        f"{ROOT}/language|terminology": "ISO_639-1",
        f"{ROOT}/territory|code": letter.territory,
        f"{ROOT}/territory|terminology": "ISO_3166-1",
        f"{ROOT}/composer|name": letter.author_name.strip(),
        f"{ROOT}/category|code": "433",
        f"{ROOT}/category|value": "event",
        f"{ROOT}/category|terminology": "openehr",
        KEY_START_TIME: start_time,
        f"{ROOT}/context/setting|code": "238",
        f"{ROOT}/context/setting|value": "other care",
        f"{ROOT}/context/setting|terminology": "openehr",
        KEY_REPORT_ID: str(letter.letter_id),
        KEY_STATUS: STATUS_AMENDED if letter.amends_composition_uid else STATUS_FINAL,
        KEY_SUBJECT: letter.subject.strip(),
        KEY_SYNOPSIS: letter.body,
        f"{ROOT}/clinical_synopsis/language|code": letter.language,
        f"{ROOT}/clinical_synopsis/language|terminology": "ISO_639-1",
        f"{ROOT}/clinical_synopsis/encoding|code": "UTF-8",
        f"{ROOT}/clinical_synopsis/encoding|terminology": "IANA_character-sets",
    }
    if letter.recipient.strip():
        flat[KEY_RECIPIENT] = letter.recipient.strip()
    return flat


def _check(letter: LetterComposition) -> None:
    if not isinstance(letter.letter_id, uuid.UUID):
        raise FlatBuildError("The letter id must be a UUID.")
    for field, value in (("subject", letter.subject), ("body", letter.body), ("author_name", letter.author_name)):
        if not value.strip():
            raise FlatBuildError(f"The letter {field.replace('_', ' ')} is empty.")
    if len(letter.language) != 2 or not letter.language.isalpha() or not letter.language.islower():
        raise FlatBuildError("The language must be an ISO 639-1 code such as 'en'.")
    if len(letter.territory) != 2 or not letter.territory.isalpha() or not letter.territory.isupper():
        raise FlatBuildError("The territory must be an ISO 3166-1 code such as 'GB'.")
    if isinstance(letter.clinical_time, datetime) and letter.clinical_time.utcoffset() is None:
        raise FlatBuildError("The clinical time must carry a time zone.")


def _iso_datetime(moment: datetime | date) -> str:
    # A date-only clinical date is recorded as its midnight UTC: DV_DATE_TIME
    # needs a time, and UTC never shifts the calendar day when read back as UTC.
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(0, 0), tzinfo=UTC)
    return moment.isoformat()
