"""Portal forms of the inbox: filing (whole or split by page ranges), rejecting, bulk actions."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.db.models import Q

from apps.accounts.models import User
from apps.accounts.roles import CLINICAL_ROLES
from apps.documents.models import Category
from apps.inbox.models import ItemState
from apps.patients.nhs_number import nhs_number_problem, normalise_nhs_number
from apps.reviews.models import Priority, Team
from quill.widgets import IsoDateInput

OTHER = "other"
ROTATION = re.compile(r"^(\d+)\s*:\s*(90|180|270)$")
RANGE = re.compile(r"^\s*(\d+)\s*(?:[-–]\s*(\d+))?\s*$")


def parse_page_ranges(text: str) -> list[tuple[int, int]]:
    """'1-2, 3-5' -> [(1, 2), (3, 5)]; a bare number is a one-page range. ValueError for anything else."""
    ranges = []
    for part in text.split(","):
        match = RANGE.match(part)
        if not match:
            raise ValueError(part.strip())
        first = int(match[1])
        ranges.append((first, int(match[2] or first)))
    return ranges


class ClinicianChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.full_name or obj.email


class FilingForm(forms.Form):
    patient = forms.ChoiceField(label="Patient", widget=forms.RadioSelect)
    nhs_number = forms.CharField(
        label="NHS number of another patient",
        required=False,
        max_length=12,
        help_text="Only when the patient is not suggested.",
    )
    category = forms.ChoiceField(label="Category", choices=Category.choices)
    title = forms.CharField(label="Title", max_length=255, required=False)
    document_date = forms.DateField(label="Clinical date", required=False, widget=IsoDateInput)
    encounter_id = forms.CharField(label="Encounter", max_length=64, required=False)
    page_ranges = forms.CharField(
        label="Split into page ranges",
        required=False,
        max_length=200,
        help_text="Leave empty to file the whole document. To split, give the ranges, e.g. 1-2, 3-4: "
        "each becomes a document.",
    )

    rotate = forms.CharField(
        label="Rotate pages",
        required=False,
        max_length=200,
        help_text="Page:degrees clockwise, e.g. 2:90, 3:180. The filed copy is rotated; the item stays as received.",
    )
    review_assignee = ClinicianChoiceField(
        label="Assign for review to",
        queryset=User.objects.none(),
        required=False,
        empty_label="Nobody (no review)",
        help_text="A clinician who should read this document; or choose a team below.",
    )
    review_team = forms.ModelChoiceField(
        label="or to the team", queryset=Team.objects.none(), required=False, empty_label="No team"
    )
    review_priority = forms.ChoiceField(
        label="Review priority", choices=Priority.choices, initial=Priority.ROUTINE, required=False
    )
    review_due_date = forms.DateField(label="Review due by", required=False, widget=IsoDateInput)

    def __init__(
        self, *args: Any, suggestions: list[dict[str, Any]], organisation_id: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        clinical = Q()
        for role in CLINICAL_ROLES:
            clinical |= Q(roles__contains=[role])
        cast(forms.ModelChoiceField, self.fields["review_assignee"]).queryset = User.objects.filter(
            clinical, organisation_id=organisation_id, is_active=True
        ).order_by("full_name", "email")
        cast(forms.ModelChoiceField, self.fields["review_team"]).queryset = Team.objects.filter(
            organisation_id=organisation_id
        )
        choices = [
            (s["patient_id"], f"{s['name']} — {round(s['confidence'] * 100)}% ({'; '.join(s['evidence'])})")
            for s in suggestions
        ]
        cast(forms.ChoiceField, self.fields["patient"]).choices = [
            *choices,
            (OTHER, "Another patient (give the NHS number)"),
        ]

    def clean_nhs_number(self) -> str:
        value = self.cleaned_data["nhs_number"].strip()
        if value and (problem := nhs_number_problem(value)):
            raise forms.ValidationError(problem)
        return normalise_nhs_number(value)

    def clean_page_ranges(self) -> list[tuple[int, int]]:
        text = self.cleaned_data["page_ranges"].strip()
        if not text:
            return []
        try:
            return parse_page_ranges(text)
        except ValueError as exc:
            raise forms.ValidationError(f"“{exc}” is not a page range; write them like 1-2, 3-4.") from exc

    def clean_rotate(self) -> dict[int, int]:
        rotations: dict[int, int] = {}
        for part in filter(None, (p.strip() for p in self.cleaned_data["rotate"].split(","))):
            match = ROTATION.match(part)
            if not match:
                raise forms.ValidationError(f"“{part}” is not a rotation; write page:degrees, like 2:90.")
            rotations[int(match[1])] = int(match[2])
        return rotations

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("patient") == OTHER and not cleaned.get("nhs_number"):
            self.add_error("nhs_number", "Give the NHS number of the patient to file to.")
        assignee, team = cleaned.get("review_assignee"), cleaned.get("review_team")
        if assignee is not None and team is not None:
            self.add_error("review_team", "Assign the review to one clinician or to one team, not both.")
        elif (assignee is not None or team is not None) and cleaned.get("review_due_date") is None:
            self.add_error("review_due_date", "Give the date the review is due by.")
        return cleaned


class RejectForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class InboxFilterForm(forms.Form):
    source = forms.ChoiceField(label="Source", required=False)
    state = forms.ChoiceField(
        label="State",
        required=False,
        choices=[("", "Waiting (scanning or ready)"), *ItemState.choices],
    )

    def __init__(self, *args: Any, sources: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["source"]).choices = [("", "All sources"), *sources]


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[("reject", "Reject"), ("duplicate", "Mark as duplicate")])
    reason = forms.CharField(max_length=2000, required=False)
