"""Portal forms of the inbox: filing (whole, or split into parts each filed where it belongs), rejecting,
bulk actions (merging among them)."""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    patient = forms.ChoiceField(label="Patient", widget=forms.RadioSelect, required=False)
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
        self,
        *args: Any,
        suggestions: list[dict[str, Any]],
        organisation_id: Any = None,
        parts_name_their_patients: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # A split whose every part names its own patient needs no patient for the whole.
        self.parts_name_their_patients = parts_name_their_patients
        clinical = Q()
        for role in CLINICAL_ROLES:
            clinical |= Q(roles__contains=[role])
        cast(forms.ModelChoiceField, self.fields["review_assignee"]).queryset = User.objects.filter(
            clinical, organisation_id=organisation_id, is_active=True
        ).order_by("full_name", "email")
        cast(forms.ModelChoiceField, self.fields["review_team"]).queryset = Team.objects.filter(
            organisation_id=organisation_id
        )
        cast(forms.ChoiceField, self.fields["patient"]).choices = [
            *suggested_patient_choices(suggestions),
            (OTHER, "Another patient (give the NHS number)"),
        ]

    def clean_nhs_number(self) -> str:
        value = self.cleaned_data["nhs_number"].strip()
        if value and (problem := nhs_number_problem(value)):
            raise forms.ValidationError(problem)
        return normalise_nhs_number(value)

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
        if not cleaned.get("patient") and not self.has_error("patient") and not self.parts_name_their_patients:
            self.add_error("patient", "Choose the patient to file to.")
        assignee, team = cleaned.get("review_assignee"), cleaned.get("review_team")
        if assignee is not None and team is not None:
            self.add_error("review_team", "Assign the review to one clinician or to one team, not both.")
        elif (assignee is not None or team is not None) and cleaned.get("review_due_date") is None:
            self.add_error("review_due_date", "Give the date the review is due by.")
        return cleaned


def suggested_patient_choices(suggestions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (s["patient_id"], f"{s['name']} — {round(s['confidence'] * 100)}% ({'; '.join(s['evidence'])})")
        for s in suggestions
    ]


MAX_PARTS = 30
SAME = ""  # a part's field left as the whole document's


class SplitPartForm(forms.Form):
    """One part of a split: its pages, and where it goes when that differs from the whole document's filing."""

    pages = forms.CharField(label="Pages", required=False, max_length=20, help_text="One range, e.g. 1-2, or one page.")
    patient = forms.ChoiceField(label="Patient", required=False)
    nhs_number = forms.CharField(label="NHS number of another patient", required=False, max_length=12)
    category = forms.ChoiceField(label="Category", required=False, choices=[(SAME, "Same as above"), *Category.choices])
    title = forms.CharField(label="Title", max_length=255, required=False)
    document_date = forms.DateField(label="Clinical date", required=False, widget=IsoDateInput)

    def __init__(self, *args: Any, patient_choices: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["patient"]).choices = [
            (SAME, "Same as above"),
            *patient_choices,
            (OTHER, "Another patient (give the NHS number)"),
        ]

    def clean_pages(self) -> tuple[int, int] | None:
        text = self.cleaned_data["pages"].strip()
        if not text:
            return None
        try:
            ranges = parse_page_ranges(text)
        except ValueError:
            ranges = []
        if len(ranges) != 1:
            raise forms.ValidationError(f"“{text}” is not a page range; write one range like 1-2, or one page.")
        return ranges[0]

    def clean_nhs_number(self) -> str:
        value = self.cleaned_data["nhs_number"].strip()
        if value and (problem := nhs_number_problem(value)):
            raise forms.ValidationError(problem)
        return normalise_nhs_number(value)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("nhs_number") and not cleaned.get("patient"):
            cleaned["patient"] = OTHER  # a number typed is the patient meant, even with "Same as above" left chosen
        if cleaned.get("patient") == OTHER and not cleaned.get("nhs_number"):
            self.add_error("nhs_number", "Give the NHS number of the patient to file this part to.")
        given = any(cleaned.get(name) for name in ("patient", "nhs_number", "category", "title", "document_date"))
        if given and not cleaned.get("pages") and not self.has_error("pages"):
            self.add_error("pages", "Give this part's pages, or clear its other fields.")
        return cleaned


class BaseSplitFormSet(forms.BaseFormSet):
    def parts(self) -> list[dict[str, Any]]:
        """The parts given (rows with pages), in order, each with its row's index (none when no rows were sent)."""
        if not self.is_bound:
            return []
        return [
            {**form.cleaned_data, "row": index}
            for index, form in enumerate(self.forms)
            if form.cleaned_data.get("pages")
        ]

    def clean(self) -> None:
        if any(self.errors):
            return
        if len(self.parts()) == 1:
            raise forms.ValidationError(
                "A split needs at least two parts; to file the whole document, clear the pages."
            )


SplitFormSet = forms.formset_factory(
    SplitPartForm, formset=BaseSplitFormSet, extra=0, max_num=MAX_PARTS, absolute_max=MAX_PARTS, validate_max=True
)


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
    action = forms.ChoiceField(
        choices=[
            ("reject", "Reject"),
            ("duplicate", "Mark as duplicate"),
            ("merge", "Merge into one document (choose the order next)"),
        ]
    )
    reason = forms.CharField(max_length=2000, required=False)
