"""Regions other apps add to the patient page (the documents list …), without patients importing them.

An app registers a provider in its ``AppConfig.ready()``; the patient page's view calls
each provider and puts what it returns into the template's context. So whatever a region
records (the audit event of listing a patient's documents) is recorded by the view, never
by the template that shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from apps.patients.models import Patient

RegionProvider = Callable[[HttpRequest, Patient], dict[str, Any]]

_providers: dict[str, RegionProvider] = {}


def register_patient_region(name: str, provider: RegionProvider) -> None:
    """`name` is the context variable the region's template reads."""
    _providers[name] = provider


def patient_regions(request: HttpRequest, patient: Patient) -> dict[str, dict[str, Any]]:
    """Every registered region's context for this patient's page, by name."""
    return {name: provider(request, patient) for name, provider in _providers.items()}
