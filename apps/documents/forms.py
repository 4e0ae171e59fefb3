"""Portal forms for documents. They parse and label; the services decide."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from apps.documents.models import Category
from apps.documents.selectors import DocumentSort
from quill.widgets import IsoDateInput

# The patient page's sortable columns, in the table's order, with the order a first click asks for.
SORT_COLUMNS = {
    "title": ("Title", DocumentSort.TITLE_A_Z),
    "category": ("Category", DocumentSort.CATEGORY_A_Z),
    "date": ("Clinical date", DocumentSort.DATE_NEWEST),
}
SORT_DIRECTIONS = {
    DocumentSort.DATE_NEWEST: "newest first",
    DocumentSort.DATE_OLDEST: "oldest first",
    DocumentSort.TITLE_A_Z: "A to Z",
    DocumentSort.TITLE_Z_A: "Z to A",
    DocumentSort.CATEGORY_A_Z: "A to Z",
    DocumentSort.CATEGORY_Z_A: "Z to A",
}
SORT_LABELS = {sort: f"{SORT_COLUMNS[sort.column][0]}, {SORT_DIRECTIONS[sort]}" for sort in DocumentSort}


def category_choices(allowed: frozenset[str] | None, *, blank: str | None = None) -> list[tuple[str, str]]:
    choices = [(value, label) for value, label in Category.choices if allowed is None or value in allowed]
    return ([("", blank)] if blank is not None else []) + choices


class DocumentFilterForm(forms.Form):
    """Shown on the patient page beside the upload form, so its ids carry their own prefix.

    ``sort`` is also set by the list's column headings; the select is how a phone (whose table
    has no visible headings) chooses it.
    """

    # CharField refuses NUL characters (PostgreSQL cannot compare them) and strips spaces.
    title = forms.CharField(label="Title contains", max_length=200, required=False)
    category = forms.ChoiceField(required=False)
    encounter_id = forms.CharField(label="Encounter", max_length=64, required=False)
    date_from = forms.DateField(label="From", required=False, widget=IsoDateInput)
    date_to = forms.DateField(label="To", required=False, widget=IsoDateInput)
    sort = forms.TypedChoiceField(
        label="Sort by",
        choices=list(SORT_LABELS.items()),
        coerce=DocumentSort,
        required=False,
        empty_value=DocumentSort.DATE_NEWEST,
        error_messages={"invalid_choice": "Quill cannot sort by that: choose one of the orders in the list."},
    )

    def __init__(self, *args, allowed: frozenset[str] | None = None, **kwargs) -> None:
        kwargs.setdefault("auto_id", "filter_%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["category"]).choices = category_choices(allowed, blank="Any category")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end of the date range is before its start.")
        return cleaned


class UploadMetadataForm(forms.Form):
    """The fields shared by every file of one upload (single, several or bulk)."""

    category = forms.ChoiceField()
    title = forms.CharField(
        max_length=255, required=False, help_text="Leave empty to use the file's name (one title per file)."
    )
    document_date = forms.DateField(
        label="Clinical date", required=False, widget=IsoDateInput, help_text="Leave empty for today."
    )
    encounter_id = forms.CharField(label="Encounter", max_length=64, required=False)

    def __init__(self, *args, allowed: frozenset[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["category"]).choices = category_choices(allowed, blank="Choose a category")
        if allowed is not None and len(allowed) == 1:
            self.fields["category"].initial = next(iter(allowed))


class NewVersionForm(forms.Form):
    title = forms.CharField(max_length=255, required=False, help_text="Leave empty to keep the current title.")
    document_date = forms.DateField(
        label="Clinical date", required=False, widget=IsoDateInput, help_text="Leave empty to keep the current date."
    )


class DeleteForm(forms.Form):
    reason = forms.CharField(
        label="Reason for deleting",
        min_length=5,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit log. Deleted documents can be restored by an administrator.",
    )


class DocumentSearchForm(forms.Form):
    """The search page's form: words, and the list's filters (the patient comes from the URL)."""

    q = forms.CharField(label="Search the text of documents", max_length=200, required=False)
    category = forms.ChoiceField(required=False)
    date_from = forms.DateField(label="From", required=False, widget=IsoDateInput)
    date_to = forms.DateField(label="To", required=False, widget=IsoDateInput)

    def __init__(self, *args, allowed: frozenset[str] | None = None, **kwargs) -> None:
        kwargs.setdefault("auto_id", "search_%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["category"]).choices = category_choices(allowed, blank="Any category")
