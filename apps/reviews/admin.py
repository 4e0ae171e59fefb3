"""Review teams in the admin: each organisation's administrators and owners manage their own teams."""

from __future__ import annotations

from django.contrib import admin

from apps.accounts.admin._base import OrganisationScopedAdmin
from apps.reviews.models import Team


@admin.register(Team)
class TeamAdmin(OrganisationScopedAdmin):
    list_display = ["name", "organisation"]
    list_filter = ["organisation"]
    search_fields = ["name"]
    fields = ["organisation", "name", "members"]
    filter_horizontal = ["members"]
