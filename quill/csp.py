"""The Content-Security-Policy header on every response that does not set its own.

Portal pages, the admin, the API and FHIR get one strict policy: scripts, styles,
images, fonts, fetches and frames from Quill itself only; no inline script or style, no
plugins, no `<base>`, forms post only to Quill, and nothing frames Quill. Templates keep
to it (no `<script>` without `src`, no `style` attributes or `<style>` blocks); Django 5.2's
admin keeps to it too (its page data rides in `data-` attributes of script tags).

A response that sets its own policy keeps it: a document's bytes (`default-src 'none'`,
services/delivery.py) and thumbnails. The Swagger UI page (`/api/docs/`) gets a policy
made from its view: its scripts and styles from Quill or from wherever drf-spectacular is
told to load Swagger UI (`SWAGGER_UI_DIST`; `SIDECAR` means Quill's own static files), the
template's fixed `<style>` block allowed by its hash, and Swagger UI's `data:` images.
The view is drf-spectacular's "split" view, whose start-up script is a separate file.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.template.loader import get_template

HEADER = "Content-Security-Policy"

PORTAL_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",  # the document viewer shows page previews it fetched as blobs
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'self'",  # the PDF viewer frame shows the document's own content URL
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def _origin(url: object) -> str:
    """The origin of an absolute http(s) URL, or "" for anything else (a path, `SIDECAR`)."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _fixed_style_hashes(template_name: str) -> list[str]:
    """'sha256-…' sources for the template's `<style>` blocks that contain no template code."""
    source = get_template(template_name).template.source  # type: ignore[attr-defined]  # Django backend
    hashes = []
    for block in _STYLE_BLOCK.findall(source):
        if "{{" in block or "{%" in block:
            continue  # rendered differently each time: no fixed hash can allow it
        digest = base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode("ascii")
        hashes.append(f"'sha256-{digest}'")
    return hashes


@functools.cache
def swagger_ui_policy(template_name: str) -> str:
    from drf_spectacular.settings import spectacular_settings

    external = sorted(
        {
            origin
            for origin in (
                _origin(spectacular_settings.SWAGGER_UI_DIST),
                _origin(spectacular_settings.SWAGGER_UI_FAVICON_HREF),
            )
            if origin
        }
    )
    elsewhere = "".join(f" {origin}" for origin in external)
    styles = "".join(f" {digest}" for digest in _fixed_style_hashes(template_name))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self'{elsewhere}",
            f"style-src 'self'{styles}{elsewhere}",
            f"img-src 'self' data:{elsewhere}",  # Swagger UI's icons are data: URLs in its CSS
            f"font-src 'self'{elsewhere}",
            "connect-src 'self'",  # the schema, and "Try it out" requests, go to Quill
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def policy_for(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    view_class = getattr(match.func, "view_class", None) if match else None
    if match is not None and match.url_name == "api-docs" and view_class is not None:
        return swagger_ui_policy(view_class.template_name)
    return PORTAL_POLICY


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy_for(request)
        return response
