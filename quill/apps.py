from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class QuillAdminConfig(AdminConfig):
    default_site = "quill.admin_site.QuillAdminSite"


class QuillConfig(AppConfig):
    """The project itself: its system checks and its `runserver` (listed before staticfiles, so it wins)."""

    name = "quill"
    verbose_name = "Quill"

    def ready(self) -> None:
        from quill import system_checks  # noqa: F401  (registers the checks)
