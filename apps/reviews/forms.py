"""Portal forms of clinical review: assigning a document, completing a review."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast

from django import forms
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import CLINICAL_ROLES
from apps.reviews.models import Priority, ReviewOutcome, Team
from quill.widgets import IsoDateInput


def clinical_colleagues(organisation_id: Any) -> list[User]:
    """Active clinical users of one organisation, by name (roles is a JSON list, filtered here)."""
    users = User.objects.filter(organisation_id=organisation_id, is_active=True).order_by("full_name", "email")
    return [user for user in users if set(user.roles or []) & set(CLINICAL_ROLES)]


def _person(user: User) -> str:
    return user.full_name or user.email


class AssignReviewForm(forms.Form):
    assign_to = forms.ChoiceField(label="Review by", help_text="A clinician or a team of your organisation.")
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.ROUTINE)
    due_date = forms.DateField(label="Due by", widget=IsoDateInput)
    note = forms.CharField(
        label="Note for the reviewer", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, organisation_id: Any, **kwargs: Any) -> None:
        # Its own ids: the document page has other forms with a note or a date.
        kwargs.setdefault("auto_id", "id_review_%s")
        super().__init__(*args, **kwargs)
        self.people = {str(user.pk): user for user in clinical_colleagues(organisation_id)}
        self.teams = {str(team.pk): team for team in Team.objects.filter(organisation_id=organisation_id)}
        cast(forms.ChoiceField, self.fields["assign_to"]).choices = [
            ("", "Choose…"),
            ("Clinicians", [(f"user:{pk}", _person(user)) for pk, user in self.people.items()]),
            ("Teams", [(f"team:{pk}", team.name) for pk, team in self.teams.items()]),
        ]
        self.fields["due_date"].initial = timezone.localdate() + timedelta(days=7)

    def clean_due_date(self) -> date:
        due: date = self.cleaned_data["due_date"]
        if due < timezone.localdate():
            raise forms.ValidationError("The due date cannot be in the past.")
        return due

    def assignee(self) -> dict[str, Any]:
        kind, _, pk = self.cleaned_data["assign_to"].partition(":")
        return {"assignee": self.people[pk]} if kind == "user" else {"team": self.teams[pk]}


class CompleteReviewForm(forms.Form):
    outcome = forms.ChoiceField(choices=ReviewOutcome.choices, widget=forms.RadioSelect)
    text = forms.CharField(
        label="What action is needed (or a note for the colleague)",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    forward_to = forms.ChoiceField(label="Forward to", required=False)
    forward_due_date = forms.DateField(
        label="Forwarded review due by",
        required=False,
        widget=IsoDateInput,
    )

    def __init__(self, *args: Any, organisation_id: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.people = {str(u.pk): u for u in clinical_colleagues(organisation_id) if u.pk != actor.pk}
        cast(forms.ChoiceField, self.fields["forward_to"]).choices = [("", "Choose a colleague…")] + [
            (pk, _person(user)) for pk, user in self.people.items()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        outcome = data.get("outcome")
        if outcome == ReviewOutcome.ACTION_NEEDED and not (data.get("text") or "").strip():
            self.add_error("text", "Say what action is needed.")
        if outcome == ReviewOutcome.FORWARDED:
            if not data.get("forward_to"):
                self.add_error("forward_to", "Name the colleague to forward the review to.")
            due = data.get("forward_due_date")
            if due is not None and due < timezone.localdate():
                self.add_error("forward_due_date", "The due date cannot be in the past.")
        return data

    def forward_to_user(self) -> User | None:
        return self.people.get(self.cleaned_data.get("forward_to") or "")
