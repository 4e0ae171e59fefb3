"""Parts of a scan marked by barcode sheets: where to split, which pages to drop, whose pages they are."""

from __future__ import annotations

import uuid
from typing import Any

from apps.inbox.barcodes import SEPARATOR
from apps.inbox.services.suggestions import find_nhs_numbers
from apps.patients.models import Patient


def plan_parts(
    *, organisation_id: uuid.UUID, page_count: int, barcodes: dict[int, list[tuple[str, bool]]]
) -> list[dict[str, Any]]:
    """The documents a scan holds between its separator and cover sheets (empty when it has none).

    Each part: first and last page, the cover sheet's NHS number (empty without a cover sheet) and its
    patient (``patient_id`` empty when the part has no cover sheet or its NHS number is not one of the
    organisation's patients).
    """
    covers: dict[int, str] = {}
    sheets: set[int] = set()
    for page, codes in barcodes.items():
        for text, matrix in codes:
            if text.strip() == SEPARATOR:
                sheets.add(page)
            elif matrix and (numbers := find_nhs_numbers(text)):
                covers[page] = numbers[0]
                sheets.add(page)
    if not sheets:
        return []
    patients = {
        patient.nhs_number: patient
        for patient in Patient.objects.filter(organisation_id=organisation_id, nhs_number__in=set(covers.values()))
    }
    parts: list[dict[str, Any]] = []
    current: list[int] = []
    cover: tuple[int, str] | None = None

    def close() -> None:
        if current:
            patient = patients.get(cover[1]) if cover else None
            parts.append({
                "first_page": current[0],
                "last_page": current[-1],
                "patient_id": str(patient.pk) if patient else "",
                "nhs_number": cover[1] if cover else "",
                "evidence": f"NHS number {cover[1]} in a barcode on the cover sheet, page {cover[0]}" if cover else "",
            })  # fmt: skip

    for page in range(1, page_count + 1):
        if page in sheets:
            close()
            current = []
            cover = (page, covers[page]) if page in covers else None
            continue
        current.append(page)
    close()
    return parts
