from django.contrib.admin.apps import AdminConfig


class QuillAdminConfig(AdminConfig):
    default_site = "quill.admin_site.QuillAdminSite"
