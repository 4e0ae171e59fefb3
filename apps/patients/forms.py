"""Portal forms. They parse what was typed; the services decide what is valid."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from apps.patients.models import Sex
from apps.patients.selectors import DATE_OF_BIRTH_FORMATS
from apps.patients.services import BREAK_GLASS_REASON_MIN_LENGTH
from quill.widgets import IsoDateInput

DATE_HELP = "For example 31/01/1980 or 1980-01-31."


class PatientSearchForm(forms.Form):
    q = forms.CharField(label="Name or MRN", required=False, max_length=200)
    nhs_number = forms.CharField(label="NHS number", required=False, max_length=20)
    date_of_birth = forms.CharField(label="Date of birth", required=False, max_length=20, help_text=DATE_HELP)


class PatientForm(forms.Form):
    given_name = forms.CharField(
        label="Given name", max_length=100, error_messages={"required": "Given name is needed."}
    )
    family_name = forms.CharField(
        label="Family name", max_length=100, error_messages={"required": "Family name is needed."}
    )
    date_of_birth = forms.DateField(
        label="Date of birth",
        input_formats=DATE_OF_BIRTH_FORMATS,
        help_text=DATE_HELP,
        error_messages={
            "required": "Date of birth is needed.",
            "invalid": "Enter the date of birth as 31/01/1980 or 1980-01-31.",
        },
        widget=forms.DateInput(format="%d/%m/%Y", attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    sex = forms.ChoiceField(label="Sex", choices=Sex.choices, initial=Sex.UNKNOWN)
    nhs_number = forms.CharField(
        label="NHS number",
        required=False,
        max_length=20,
        help_text="10 digits; spaces are fine. Leave empty if not known.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    mrn = forms.CharField(label="MRN", required=False, max_length=64, help_text="The clinic's own record number.")
    restricted = forms.BooleanField(
        label="Restricted record",
        required=False,
        help_text="Only the care team can open it; anyone else must break the glass and give a reason.",
    )


class BreakGlassForm(forms.Form):
    reason = forms.CharField(
        label="Why do you need this record now?",
        min_length=BREAK_GLASS_REASON_MIN_LENGTH,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Your name, the reason and the time are recorded and can be reviewed by administrators.",
        error_messages={
            "required": "Give the reason you need this record; it is recorded with your name.",
            "min_length": f"Describe the reason in a few words ({BREAK_GLASS_REASON_MIN_LENGTH} characters at least).",
        },
    )


class CareTeamAddForm(forms.Form):
    member = forms.TypedChoiceField(label="Add to care team", coerce=int, choices=())

    def __init__(self, *args, candidates=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The form's "member" field is the TypedChoiceField declared above; the fields mapping types it as Field.
        member = cast(forms.TypedChoiceField, self.fields["member"])
        member.choices = [(user.pk, f"{user.full_name} ({user.email})") for user in candidates]


class AccessReportFilterForm(forms.Form):
    """The access report's filters; the choices are the people and kinds of event the report holds."""

    date_from = forms.DateField(label="From", required=False, widget=IsoDateInput)
    date_to = forms.DateField(label="To", required=False, widget=IsoDateInput)
    person = forms.TypedChoiceField(label="Who", required=False, coerce=int, empty_value=None)
    action = forms.ChoiceField(label="What", required=False)

    def __init__(self, *args, people=(), actions=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["person"]).choices = [("", "Anyone"), *people]
        cast(forms.ChoiceField, self.fields["action"]).choices = [("", "Anything"), *actions]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end of the date range is before its start.")
        return cleaned
