"""Which representation a ``/fhir/r4/`` request gets: FHIR JSON, FHIR XML, raw bytes, or 406.

``_format`` wins over ``Accept`` (FHIR http.html). A client that asks only for formats
Quill cannot produce gets 406 Not Acceptable, never JSON under an XML request. No
``Accept`` (or ``*/*``) means JSON, except for a Binary, whose default is its own bytes.
"""

from __future__ import annotations

from typing import Any, Literal

from fhir.resources.R4B import get_fhir_model_class
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer

from . import codes

Representation = Literal["json", "xml", "raw"]

FHIR_XML_MIME_TYPE = "application/fhir+xml"
JSON_TYPES = frozenset({"json", "application/json", codes.FHIR_JSON_MIME_TYPE, "application/json+fhir"})
XML_TYPES = frozenset({"xml", "text/xml", "application/xml", FHIR_XML_MIME_TYPE, "application/xml+fhir"})
_NOT_ACCEPTABLE = "Quill's FHIR endpoint answers in application/fhir+json or application/fhir+xml only."


def resource_format(accept: str, format_param: str | None) -> Representation | None:
    """``json`` or ``xml`` for a FHIR resource or Bundle; None when nothing the client accepts is possible."""
    if format_param:
        return _named(format_param)
    if not (accept or "").strip():
        return "json"
    for media_type in media_ranges(accept):
        named = _named(media_type)
        if named:
            return named
        if media_type in ("*/*", "application/*"):
            return "json"
    return None


def binary_format(accept: str, format_param: str | None, content_type: str) -> Representation | None:
    """``raw`` (the document's own bytes), a FHIR ``Binary`` in ``json`` or ``xml``, or None (406)."""
    if format_param:
        return _named(format_param)
    if not (accept or "").strip():
        return "raw"
    main_type = content_type.split("/", 1)[0]
    for media_type in media_ranges(accept):
        if media_type in (content_type, f"{main_type}/*", "*/*"):
            return "raw"
        named = _named(media_type)
        if named:
            return named
    return None


def media_ranges(accept: str) -> list[str]:
    """The media ranges of an ``Accept`` header, most preferred first; ``q=0`` ones left out."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept or "").split(",")):
        media_type, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_type and quality > 0:
            weighted.append((-quality, position, media_type.lower()))
    return [media_type for _, _, media_type in sorted(weighted)]


def _named(media_type: str) -> Representation | None:
    name = media_type.split(";", 1)[0].strip().lower()
    if name in JSON_TYPES:
        return "json"
    if name in XML_TYPES:
        return "xml"
    return None


def not_acceptable(message: str = _NOT_ACCEPTABLE) -> exceptions.NotAcceptable:
    return exceptions.NotAcceptable(message)


# --- DRF wiring ----------------------------------------------------------------------------------


class FhirJsonRenderer(JSONRenderer):
    media_type = codes.FHIR_JSON_MIME_TYPE
    format = "json"


class FhirXmlRenderer(BaseRenderer):
    """FHIR XML, written by ``fhir.resources`` from the same validated dicts the JSON comes from."""

    media_type = FHIR_XML_MIME_TYPE
    format = "xml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        pretty = bool((renderer_context or {}).get("indent"))
        model = get_fhir_model_class(data["resourceType"]).model_validate(data)
        xml = model.model_dump_xml(pretty_print=pretty)
        return xml.encode("utf-8") if isinstance(xml, str) else xml


RENDERERS = {"json": FhirJsonRenderer, "xml": FhirXmlRenderer}


class FhirContentNegotiation(BaseContentNegotiation):
    """Resources and Bundles: JSON or XML as ``_format``/``Accept`` ask, else 406 (in JSON)."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        chosen = resource_format(request.META.get("HTTP_ACCEPT", ""), request.query_params.get("_format"))
        if chosen is None:
            raise not_acceptable()
        return _renderer(renderers, chosen)


class BinaryContentNegotiation(FhirContentNegotiation):
    """A Binary may be answered raw (decided in the view); its refusals are FHIR JSON or XML."""

    def select_renderer(self, request, renderers, format_suffix=None):
        chosen = resource_format(request.META.get("HTTP_ACCEPT", ""), request.query_params.get("_format"))
        return _renderer(renderers, chosen or "json")


def _renderer(renderers, chosen: str):
    renderer = next(renderer for renderer in renderers if renderer.format == chosen)
    return renderer, renderer.media_type
