"""Form widgets shared by every app's portal forms."""

from __future__ import annotations

from django import forms

ISO_DATE = "%Y-%m-%d"


class IsoDateInput(forms.DateInput):
    """`<input type="date">` with its value in ISO form (YYYY-MM-DD).

    The HTML standard lets a date input accept only that form. Django's default rendering
    follows the locale (en-GB gives 07/12/2026), which Chromium rejects: the field shows
    empty and the saved date is lost on the next submit.
    """

    input_type = "date"

    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(attrs=attrs, format=ISO_DATE)
