"""Text and OCR settings in the admin: the platform's operators choose each organisation's OCR languages
(the language packs must be installed on the workers, so it is theirs to decide)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from apps.documents.models import TextSettings
from apps.documents.search.query import forget_organisation_config
from apps.files.extraction import installed_ocr_languages
from quill.admin_site import PlatformOnlyAdmin


class TextSettingsForm(forms.ModelForm):
    class Meta:
        model = TextSettings
        fields = ("organisation", "ocr_languages")
        help_texts = {"ocr_languages": "Tesseract language codes joined with +, e.g. eng or eng+deu."}

    def clean_ocr_languages(self) -> str:
        codes = [code.strip() for code in self.cleaned_data["ocr_languages"].split("+") if code.strip()]
        if not codes:
            raise forms.ValidationError("Name at least one language, e.g. eng.")
        installed = installed_ocr_languages()
        missing = [code for code in codes if code not in installed]
        if missing:
            raise forms.ValidationError(
                f"Not installed on this server: {', '.join(missing)}. "
                f"Installed: {', '.join(sorted(installed)) or 'none'}."
            )
        return "+".join(codes)


@admin.register(TextSettings)
class TextSettingsAdmin(PlatformOnlyAdmin):
    form = TextSettingsForm
    list_display = ("organisation", "ocr_languages")
    list_select_related = ("organisation",)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        forget_organisation_config(obj.organisation_id)  # search stems with the new first language

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        forget_organisation_config(obj.organisation_id)

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        forget_organisation_config()
