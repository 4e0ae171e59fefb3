"""The draft form. Every field is optional while drafting; finalising checks completeness."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from quill.widgets import IsoDateInput


class LetterForm(forms.Form):
    recipient_name = forms.CharField(
        label="Recipient name", max_length=200, required=False, help_text="For example Dr J Smith."
    )
    recipient_role = forms.CharField(
        label="Recipient role", max_length=200, required=False, help_text="For example General Practitioner."
    )
    recipient_address = forms.CharField(
        label="Recipient address or organisation",
        max_length=2000,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    subject = forms.CharField(label="Subject", max_length=255, required=False)
    clinical_date = forms.DateField(label="Clinical date", initial=timezone.localdate, widget=IsoDateInput)
    encounter_id = forms.CharField(label="Encounter (optional)", max_length=64, required=False)
    body = forms.CharField(
        label="Letter text",
        max_length=100_000,
        required=False,
        strip=False,
        help_text="Leave a blank line between paragraphs. Start a line with “# ” for a heading, “- ” for a list item.",
        widget=forms.Textarea(attrs={"rows": 18}),
    )
