"""Template tags for the documents region that other apps' pages include."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def patient_documents_region(context: template.Context) -> dict:
    """`{% patient_documents_region as region %}`: filters, one page of documents and the upload form."""
    from apps.documents.views import patient_documents_context

    return patient_documents_context(context["request"], context["patient"])
