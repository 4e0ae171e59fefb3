"""The draft form. Every field is optional while drafting; finalising checks completeness."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from apps.letters import markup
from apps.letters.models import letter_max_length
from quill.widgets import IsoDateInput


class LetterForm(forms.Form):
    recipient_name = forms.CharField(
        label="Recipient name",
        max_length=letter_max_length("recipient_name"),
        required=False,
        help_text="For example Dr J Smith.",
    )
    recipient_role = forms.CharField(
        label="Recipient role",
        max_length=letter_max_length("recipient_role"),
        required=False,
        help_text="For example General Practitioner.",
    )
    recipient_address = forms.CharField(
        label="Recipient address or organisation",
        max_length=letter_max_length("recipient_address"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    subject = forms.CharField(label="Subject", max_length=letter_max_length("subject"), required=False)
    clinical_date = forms.DateField(label="Clinical date", initial=timezone.localdate, widget=IsoDateInput)
    encounter_id = forms.CharField(
        label="Encounter (optional)", max_length=letter_max_length("encounter_id"), required=False
    )
    body = forms.CharField(
        label="Letter text",
        max_length=letter_max_length("body"),
        required=False,
        strip=False,
        help_text=markup.HELP_TEXT,
        widget=forms.Textarea(attrs={"rows": 18}),
    )
