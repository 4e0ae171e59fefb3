"""The retention policy: how long a document must be kept (pure functions, no database).

* Adults: `QUILL_RETENTION_YEARS` (default 8) after the last clinical date of the
  patient's record, or the category's own number of years
  (`QUILL_RETENTION_CATEGORY_YEARS`, e.g. ``imaging=10,consent=15``).
* Children (under 18 at the last clinical date): until their 25th birthday, or their
  26th if they were 17 at the last clinical date, or the adult rule if that is later.

The "last clinical date" is the latest clinical date of any of the patient's
documents, so a new document extends the retention of the whole record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.documents.models import Category

ADULT_AGE = 18


@dataclass(frozen=True)
class RetentionRule:
    years_after_last_date: int
    child: bool
    child_until_birthday: int | None = None

    def describe(self) -> str:
        adult = f"{self.years_after_last_date} years after the last clinical date"
        if not self.child:
            return adult
        return f"until the {self.child_until_birthday}th birthday or {adult}, whichever is later"


def add_years(day: date, years: int) -> date:
    """`day` moved by whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def category_years(category: str) -> int:
    overrides = settings.QUILL_RETENTION_CATEGORY_YEARS
    unknown = set(overrides) - set(Category.values)
    if unknown:
        raise ImproperlyConfigured(
            f"QUILL_RETENTION_CATEGORY_YEARS names unknown categories: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(Category.values)})"
        )
    return overrides.get(category, settings.QUILL_RETENTION_YEARS)


def rule_for(*, birth_date: date, last_clinical_date: date, category: str) -> RetentionRule:
    age = age_on(birth_date, last_clinical_date)
    years = category_years(category)
    if age >= ADULT_AGE:
        return RetentionRule(years_after_last_date=years, child=False)
    return RetentionRule(years_after_last_date=years, child=True, child_until_birthday=26 if age == 17 else 25)


def retain_until(*, birth_date: date, last_clinical_date: date, category: str) -> date:
    """The first day the document may be removed is the day after this date."""
    rule = rule_for(birth_date=birth_date, last_clinical_date=last_clinical_date, category=category)
    until = add_years(last_clinical_date, rule.years_after_last_date)
    if rule.child_until_birthday is not None:  # rule_for sets it for, and only for, a child's rule
        until = max(until, add_years(birth_date, rule.child_until_birthday))
    return until
