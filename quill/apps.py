from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class QuillAdminConfig(AdminConfig):
    default_site = "quill.admin_site.QuillAdminSite"


class QuillConfig(AppConfig):
    """The project itself: system checks, admin tenancy, and its `runserver` (listed before staticfiles, so it wins)."""

    name = "quill"
    verbose_name = "Quill"

    def ready(self) -> None:
        from django.contrib import admin

        from quill import system_checks  # noqa: F401  (registers the checks)
        from quill.admin_site import restrict_other_admins

        # Every app's admin module has been imported by now (the admin's ready() runs first).
        restrict_other_admins(admin.site)
