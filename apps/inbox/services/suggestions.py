"""Suggesting the patient, title and clinical date of an item from its text, filename, email and hints.

A patient is suggested from a valid NHS number (mod-11) found anywhere, else from a
date of birth together with the family name; each suggestion carries its evidence in
words and a confidence. ``auto_file`` is true only for an NHS number and the same
patient's date of birth both found: the one case an organisation may let Quill file
without a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from apps.inbox.models import InboxItem
from apps.inbox.services.categories import suggest_categories
from apps.inbox.services.matching import NameIndex, Reading, find_dates_tolerant
from apps.patients.models import Patient
from apps.patients.nhs_number import nhs_number_problem

NHS_PATTERN = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?!\d)")
MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# A one-digit day straight after a letter OCR confuses with a digit is not read: "l2/03/1970" may be the 12th.
_DAY = r"(?<!\d)(\d{2}|(?<![OoDlI|SB])\d)"
NUMERIC_DATE = re.compile(_DAY + r"[/.\-](\d{1,2})[/.\-](\d{4})(?!\d)")
ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
WORD_DATE = re.compile(_DAY + r"(?:st|nd|rd|th)?\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})(?!\d)")
HEADING_SKIP = re.compile(r"^(dear|re:|page \d|nhs number|date)", re.IGNORECASE)


@dataclass
class Place:
    """Where a fact was found, as a clinician reads it ("page 1", "the email subject")."""

    label: str
    text: str
    derived: bool = False  # the same text with OCR's digit confusions undone (not read again for names)


@dataclass
class Candidate:
    patient: Patient
    basis: str
    confidence: float
    evidence: list[str] = field(default_factory=list)
    auto_file: bool = False


OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1", "S": "5", "B": "8"})
NUMBER_LIKE = re.compile(r"[0-9OoDlI|SB,'`]*[0-9][0-9OoDlI|SB,'`/.\-]*")


def ocr_digits(text: str) -> str:
    """`text` with OCR's usual letter-for-digit confusions undone inside number-like tokens
    (``943 47G`` stays, ``9O1 l23`` becomes ``901 123``), and stray commas or quotes between digits dropped."""

    def fix(match: re.Match[str]) -> str:
        token = match.group(0)
        digits = sum(char.isdigit() for char in token)
        if digits * 2 < len(token):
            return token
        return re.sub(r"(?<=\d)[,'`]+(?=\d)", "", token.translate(OCR_DIGITS))

    return NUMBER_LIKE.sub(fix, text)


def _places(item: InboxItem, pages: list[str], barcodes: dict[int, list[tuple[str, bool]]]) -> list[Place]:
    places = [Place(f"page {number}", text) for number, text in enumerate(pages, start=1)]
    places += [Place(f"page {number}", fixed, derived=True) for number, text in enumerate(pages, start=1)
               if (fixed := ocr_digits(text)) != text]  # fmt: skip
    places += [Place(f"a barcode on page {number}", text)
               for number, codes in sorted(barcodes.items()) for text, matrix in codes if matrix]  # fmt: skip
    places.append(Place("the filename", item.original_filename))
    mail = item.mail_message
    if mail is not None:
        places.append(Place("the email subject", mail.subject))
    return places


def find_nhs_numbers(text: str) -> list[str]:
    """Every valid NHS number written in `text` (spaced, dashed or run together), in order."""
    found = []
    for match in NHS_PATTERN.finditer(text):
        digits = "".join(match.groups())
        if nhs_number_problem(digits) is None and digits not in found:
            found.append(digits)
    return found


def _valid_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def find_dates(text: str) -> list[date]:
    """Dates written day-first (UK), ISO or with a month name, in order of appearance."""
    found: list[tuple[int, date]] = []
    for match in NUMERIC_DATE.finditer(text):
        if (value := _valid_date(int(match[3]), int(match[2]), int(match[1]))) is not None:
            found.append((match.start(), value))
    for match in ISO_DATE.finditer(text):
        if (value := _valid_date(int(match[1]), int(match[2]), int(match[3]))) is not None:
            found.append((match.start(), value))
    for match in WORD_DATE.finditer(text):
        month = MONTHS.get(match[2].lower())
        if month and (value := _valid_date(int(match[3]), month, int(match[1]))) is not None:
            found.append((match.start(), value))
    ordered: list[date] = []
    for _, value in sorted(found, key=lambda pair: pair[0]):
        if value not in ordered:
            ordered.append(value)
    return ordered


def _spaced(nhs_number: str) -> str:
    return f"{nhs_number[:3]} {nhs_number[3:6]} {nhs_number[6:]}"


def _hint_places(hints: dict[str, Any]) -> list[Place]:
    text = " ".join(str(hints.get(key, "")) for key in ("nhs_number", "date_of_birth", "family_name", "given_name"))
    return [Place("the sender's hints", text)] if text.strip() else []


def _by_nhs_number(organisation_id, places: list[Place], dates: dict[date, str]) -> list[Candidate]:
    seen: dict[str, str] = {}
    for place in places:
        for number in find_nhs_numbers(place.text):
            seen.setdefault(number, place.label)
    if not seen:
        return []
    candidates = []
    for patient in Patient.objects.filter(organisation_id=organisation_id, nhs_number__in=list(seen)):
        evidence = [f"NHS number {_spaced(patient.nhs_number)} on {seen[patient.nhs_number]}"]
        dob_place = dates.get(patient.date_of_birth)
        if dob_place:
            evidence.append(f"date of birth {patient.date_of_birth:%d/%m/%Y} on {dob_place}")
        candidates.append(
            Candidate(patient, "nhs_number", 0.99 if dob_place else 0.9, evidence, auto_file=bool(dob_place))
        )
    return candidates


def _name_reading(name: str, readings: list[Reading]) -> str:
    """Where a name was read, in words; a tolerant reading says how it was written there."""
    exact = [reading for reading in readings if reading.exact]
    if exact:
        return f"{name} on {exact[0].place}"
    return f'{name} on {readings[0].place}, read as "{readings[0].text}"'


def _name_candidates(patients: list[Patient], index: NameIndex) -> list[tuple[Patient, list[Reading], list[Reading]]]:
    """Each patient whose family name was read (exactly or through OCR's confusions), with the readings that count.

    A reading inside a longer one that names another of the patients does not count (``Lisle`` inside
    ``Lisle-Lane``), nor a name straight after a clinician's title off the birth date's line (``Dear Dr
    Marwood``): that is who the letter is to, not who it is about.
    """
    found = []
    for patient in patients:
        readings = [
            reading
            for reading in index.find(patient.family_name)
            if not reading.after_title or patient.date_of_birth in index.dates_on(reading)
        ]
        if readings:
            found.append((patient, readings, index.find(patient.given_name) if patient.given_name else []))
    kept = []
    for patient, readings, given in found:
        others = [reading for other, theirs, _ in found if other.pk != patient.pk for reading in theirs]
        readings = [reading for reading in readings if not any(reading.within(other) for other in others)]
        if readings:
            kept.append((patient, readings, given))
    return kept


def _by_birth_date_and_name(organisation_id, places: list[Place], dates: dict[date, str]) -> list[Candidate]:
    """Patients born on a date found, whose family name is found too; names and dates read through OCR noise.

    Confidence: 0.75 for a family name written exactly (0.65 read through OCR's confusions), 0.1 more when it
    is on the same line as the date of birth, 0.05 more when the given name is found too; shared when several
    patients match. Never marked for automatic filing.
    """
    index = NameIndex()
    birth_dates = dict(dates)
    for place in places:
        if place.derived:
            continue
        index.add(place.label, place.text, strict_dates=find_dates)
        for value in find_dates_tolerant(place.text):
            birth_dates.setdefault(value, place.label)
    if not birth_dates:
        return []
    patients = list(Patient.objects.filter(organisation_id=organisation_id, date_of_birth__in=list(birth_dates)))
    candidates = []
    for patient, readings, given in _name_candidates(patients, index):
        born = patient.date_of_birth
        evidence = [
            f"date of birth {born:%d/%m/%Y} on {birth_dates[born]}",
            f"family name {_name_reading(patient.family_name, readings)}",
        ]
        confidence = 0.75 if any(reading.exact for reading in readings) else 0.65
        if any(born in index.dates_on(reading) for reading in readings):
            confidence += 0.1
        if given:
            evidence.append(f"given name {_name_reading(patient.given_name, given)}")
            confidence += 0.05
        candidates.append(Candidate(patient, "birth_date_and_name", round(confidence, 2), evidence))
    if len(candidates) > 1:
        for candidate in candidates:
            candidate.confidence = round(candidate.confidence / len(candidates), 2)
    return candidates


def suggest_patients(
    item: InboxItem, pages: list[str], barcodes: dict[int, list[tuple[str, bool]]] | None = None
) -> list[Candidate]:
    """The likely patients, best first: NHS number matches, else date of birth plus family name."""
    places = _places(item, pages, barcodes or {}) + _hint_places(item.hints or {})
    dates: dict[date, str] = {}
    for place in places:
        for value in find_dates(place.text):
            dates.setdefault(value, place.label)
    candidates = _by_nhs_number(item.organisation_id, places, dates)
    if not candidates:
        candidates = _by_birth_date_and_name(item.organisation_id, places, dates)
    if len(candidates) > 1:
        for candidate in candidates:
            candidate.auto_file = False
    return sorted(candidates, key=lambda candidate: -candidate.confidence)


def suggest_title(pages: list[str]) -> str:
    """The first line that reads like a heading (short, not a salutation, not a bare number)."""
    for line in "\n".join(pages[:1]).splitlines():
        line = line.strip()
        if 3 <= len(line) <= 80 and not HEADING_SKIP.match(line) and re.search(r"[A-Za-z]{3}", line):
            return line
    return ""


def suggest_clinical_date(pages: list[str], *, birth_dates: set[date]) -> date | None:
    for value in find_dates("\n".join(pages[:2])):
        if value not in birth_dates:
            return value
    return None


def inbox_suggest(
    *, item: InboxItem, pages: list[str], barcodes: dict[int, list[tuple[str, bool]]] | None = None
) -> dict[str, Any]:
    """The suggestions stored on the item (JSON): patients with evidence, category, title, date, parts."""
    from apps.inbox.services.separators import plan_parts

    candidates = suggest_patients(item, pages, barcodes)
    clinical_date = suggest_clinical_date(pages, birth_dates={c.patient.date_of_birth for c in candidates})
    return {
        "patients": [
            {
                "patient_id": str(candidate.patient.pk),
                "name": f"{candidate.patient.given_name} {candidate.patient.family_name}",
                "basis": candidate.basis,
                "confidence": candidate.confidence,
                "evidence": candidate.evidence,
                "auto_file": candidate.auto_file,
            }
            for candidate in candidates[:5]
        ],
        "categories": suggest_categories(organisation_id=item.organisation_id, text="\n".join(pages)),
        "title": suggest_title(pages),
        "document_date": clinical_date.isoformat() if clinical_date else "",
        "parts": plan_parts(
            organisation_id=item.organisation_id, page_count=item.page_count or len(pages), barcodes=barcodes or {}
        ),
    }
