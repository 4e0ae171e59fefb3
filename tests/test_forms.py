"""Every form in the project renders its date inputs in the one format browsers accept.

`<input type="date">` takes only YYYY-MM-DD (HTML standard, "valid date string"). A
localised value (07/12/2026 under en-GB) is shown as an empty field, and the next submit
loses the date; that is how the letter composer lost its clinical date on every edit.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import date

import pytest
from django import forms
from django.apps import apps as django_apps

DATE_INPUT = re.compile(r"<input\b[^>]*\btype=\"date\"[^>]*>")
VALUE = re.compile(r"\bvalue=\"([^\"]*)\"")
CLINICAL_DATE = date(2026, 12, 7)


def _import_form_modules() -> None:
    for app in django_apps.get_app_configs():
        if not app.name.startswith(("apps.", "quill")):
            continue
        for name in ("forms", "admin"):
            if pkgutil.find_loader(f"{app.name}.{name}") is not None:
                importlib.import_module(f"{app.name}.{name}")


def _project_forms() -> list[type[forms.BaseForm]]:
    _import_form_modules()
    found, pending = [], [forms.BaseForm]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith(("apps.", "quill.")):
            found.append(cls)
    return sorted(set(found), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


FORMS = _project_forms()


def _date_values(html: str) -> list[str]:
    values = []
    for tag in DATE_INPUT.findall(html):
        match = VALUE.search(tag)
        values.append(match.group(1) if match else "")
    return values


def _date_fields(form: forms.BaseForm) -> list[str]:
    return [name for name, field in form.fields.items() if isinstance(field, forms.DateField)]


def test_the_walk_finds_the_portal_forms_with_date_inputs():
    names = {cls.__name__ for cls in FORMS}
    assert {"LetterForm", "DocumentFilterForm", "UploadMetadataForm", "NewVersionForm"} <= names


# Forms whose views give them what they offer (the item's suggested patients, the organisation's sources).
CONSTRUCTED_WITH: dict[str, dict] = {
    "apps.inbox.forms.FilingForm": {"suggestions": []},
    "apps.inbox.forms.InboxFilterForm": {"sources": [("api", "API")]},
    "apps.reviews.forms.AssignReviewForm": {"organisation_id": None},
    "apps.reviews.forms.CompleteReviewForm": {"organisation_id": None, "actor": None},
}


@pytest.mark.django_db
@pytest.mark.parametrize("form_class", FORMS, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_date_input_renders_an_iso_date(form_class):
    extra = CONSTRUCTED_WITH.get(f"{form_class.__module__}.{form_class.__qualname__}", {})
    unbound = form_class(**extra)
    date_fields = _date_fields(unbound)
    initial = dict.fromkeys(date_fields, CLINICAL_DATE)

    for form in (
        form_class(initial=initial, **extra),
        form_class(data=dict.fromkeys(date_fields, "2026-12-07"), **extra),
    ):
        html = str(form)
        values = _date_values(html)
        for value in values:
            assert value == "2026-12-07", f"{form_class.__name__} renders a date input as {value!r}"
        date_inputs = [name for name in date_fields if form[name].field.widget.input_type == "date"]
        assert len(values) == len(date_inputs)


def test_the_letter_form_shows_todays_date_by_default():
    html = str(importlib.import_module("apps.letters.forms").LetterForm())
    (value,) = _date_values(html)
    assert date.fromisoformat(value)
