"""A letter's preview renders its PDF once per content: the letter page and each page image share it.

The renderers are wrapped to count their calls (they still render). Each draft's text carries a
fresh marker, so a rendering cached by an earlier run (the cache is Redis) is never this one's.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from apps.documents.models import Document, ScanStatus
from apps.letters.services import letter_create, letter_update
from tests import factories
from tests.letters.helpers import pdf_text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def renders(monkeypatch) -> Counter:
    """How many times each renderer ran: the letter's PDF, a draft's page image, a stored document's page."""
    counts: Counter = Counter()

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return real(*args, **kwargs)

        return wrapper

    from apps.documents.services import pages
    from apps.letters import preview

    monkeypatch.setattr(preview, "render_letter_pdf", counting("pdf", preview.render_letter_pdf))
    monkeypatch.setattr(preview, "render_page", counting("draft page", preview.render_page))
    monkeypatch.setattr(pages, "render_page_image", counting("document page", pages.render_page_image))
    return counts


@pytest.fixture
def portal(clinician):
    return factories.signed_in_client(clinician)


def _draft(clinician, patient, *, paragraphs: int = 2):
    marker = uuid.uuid4().hex
    body = "\n\n".join(
        f"Paragraph {n} of the assessment ({marker}). " + "The knee is improving. " * 12 for n in range(paragraphs)
    )
    return letter_create(actor=clinician, patient=patient, recipient_name="Dr J Smith", subject="Knee", body=body)


def _page_links(portal, letter) -> list[str]:
    html = portal.get(f"/letters/{letter.pk}/").content.decode()
    return [
        f"/letters/{letter.pk}/pages/{n}.webp" for n in range(1, 10) if f"/letters/{letter.pk}/pages/{n}.webp" in html
    ]


def test_a_drafts_preview_renders_its_pdf_once_for_the_page_and_every_page_image(
    portal, clinician, patient, renders, document_files
):
    letter = _draft(clinician, patient, paragraphs=14)

    links = _page_links(portal, letter)
    images = [portal.get(link) for link in links]
    again = [portal.get(link) for link in links]  # a reload without the browser's copy
    portal.get(f"/letters/{letter.pk}/finalise/")

    assert len(links) >= 2, "the draft should fill more than one page"
    assert all(image.status_code == 200 and image.content[8:12] == b"WEBP" for image in images + again)
    assert [image.content for image in again] == [image.content for image in images]
    assert renders == Counter({"pdf": 1, "draft page": len(links)})


def test_saving_the_draft_renders_the_new_text_once_more(portal, clinician, patient, renders, document_files):
    letter = _draft(clinician, patient)
    first = portal.get(_page_links(portal, letter)[0])

    letter = letter_update(actor=clinician, letter=letter, body=letter.body + "\n\nA new line.")
    second = portal.get(_page_links(portal, letter)[0])

    assert renders == Counter({"pdf": 2, "draft page": 2})
    assert first["ETag"] != second["ETag"] and first.content != second.content


def test_a_browser_that_has_the_page_gets_304_without_a_rendering(portal, clinician, patient, renders, document_files):
    letter = _draft(clinician, patient)
    link = _page_links(portal, letter)[0]
    image = portal.get(link)
    renders.clear()

    revalidated = portal.get(link, HTTP_IF_NONE_MATCH=image["ETag"])

    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated["ETag"] == image["ETag"] and revalidated["Cache-Control"] == "private, no-cache"
    assert image["Cache-Control"] == "private, no-cache" and image["X-Content-Type-Options"] == "nosniff"
    assert renders == Counter()


def test_a_final_letters_pages_are_its_stored_documents_pages_rendered_once(portal, patient, write_final, renders):
    letter = write_final(patient)
    Document.objects.filter(pk=letter.document_id).update(scan_status=ScanStatus.CLEAN)
    letter.document.refresh_from_db()
    renders.clear()  # finalising renders the signed PDF once, as it must

    links = _page_links(portal, letter)
    images = [portal.get(link) for link in links] + [portal.get(link) for link in links]

    assert [image.status_code for image in images] == [200] * 2 * len(links)
    assert images[0]["ETag"].startswith(f'"{letter.document.sha256}-')
    assert renders == Counter({"document page": len(links)})  # never the letter again; each page once


def test_without_the_cache_the_preview_is_rendered_as_before(
    portal, clinician, patient, renders, document_files, settings
):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    letter = _draft(clinician, patient)

    link = _page_links(portal, letter)[0]
    image = portal.get(link)

    assert image.status_code == 200 and image.content[8:12] == b"WEBP"
    assert renders == Counter({"pdf": 2, "draft page": 1})  # the letter page's count, then the image's


def test_a_page_past_the_end_is_not_found_and_not_cached(portal, clinician, patient, renders, document_files):
    letter = _draft(clinician, patient)

    assert portal.get(f"/letters/{letter.pk}/pages/7.webp").status_code == 404
    assert portal.get(f"/letters/{letter.pk}/pages/7.webp").status_code == 404
    assert renders == Counter({"pdf": 1, "draft page": 2})


def test_a_browsers_copy_of_a_quarantined_letters_page_is_not_confirmed(portal, patient, write_final, renders):
    letter = write_final(patient)
    Document.objects.filter(pk=letter.document_id).update(scan_status=ScanStatus.CLEAN)
    link = f"/letters/{letter.pk}/pages/1.webp"
    image = portal.get(link)
    Document.objects.filter(pk=letter.document_id).update(scan_status=ScanStatus.INFECTED)

    revalidated = portal.get(link, HTTP_IF_NONE_MATCH=image["ETag"])

    assert image.status_code == 200
    assert revalidated.status_code == 409 and "no-cache" in revalidated["Cache-Control"]


def test_a_colleague_previews_the_pdf_they_would_sign(clinician, organisation, patient, document_files):
    import io

    import pypdf

    from apps.letters.preview import letter_pdf_bytes, preview_signer
    from apps.letters.services import letter_finalise

    colleague = factories.make_user(organisation, ["clinician"], full_name="Dr Grace Colleague")
    letter = _draft(clinician, patient)
    author_client, colleague_client = factories.signed_in_client(clinician), factories.signed_in_client(colleague)
    as_author = author_client.get(_page_links(author_client, letter)[0])
    as_colleague = colleague_client.get(_page_links(colleague_client, letter)[0])

    def text(pdf: bytes) -> str:
        return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)

    preview = text(letter_pdf_bytes(letter, signer=preview_signer(letter, colleague)))
    final = letter_finalise(actor=colleague, letter=letter)

    assert as_author["ETag"] != as_colleague["ETag"] and as_author.content != as_colleague.content
    assert "Dr Grace Colleague" in preview and clinician.full_name not in preview
    assert preview_signer(final, colleague) is None  # a final letter is what was signed
    assert "Dr Grace Colleague" in pdf_text_of(final.document) and clinician.full_name not in pdf_text_of(
        final.document
    )
