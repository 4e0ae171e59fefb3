"""Writing a document's pages into the search index (called by the text service, in its transaction)."""

from __future__ import annotations

import uuid

from django.db import connection

from apps.documents.models import DocumentPage

# Tesseract's language codes and the PostgreSQL text search configuration that stems them.
STEMMING_CONFIGS = {
    "eng": "english",
    "deu": "german",
    "fra": "french",
    "spa": "spanish",
    "ita": "italian",
    "nld": "dutch",
    "por": "portuguese",
    "swe": "swedish",
    "nor": "norwegian",
    "dan": "danish",
    "fin": "finnish",
    "pol": "simple",
    "cym": "simple",
}


def stemming_config(languages: list[str]) -> str:
    """The configuration a document's text is stemmed with: its first OCR language's, else `simple`."""
    return STEMMING_CONFIGS.get(languages[0], "simple") if languages else "english"


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def index_replace_pages(*, document_id: uuid.UUID, pages: list[str], language: str) -> int:
    """Replace the document's indexed pages with `pages` (page 1 first); empty pages are left out."""
    index_remove_pages(document_id=document_id)
    rows = [
        DocumentPage(document_id=document_id, page_number=number, text=text, language=language)
        for number, text in enumerate(pages, start=1)
        if text.strip()
    ]
    DocumentPage.objects.bulk_create(rows, batch_size=200)
    if not rows:
        return 0
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(
                "UPDATE documents_documentpage SET search_stemmed = to_tsvector(language::regconfig, text), "
                "search_simple = to_tsvector('simple', text) WHERE document_id = %s",
                [document_id],
            )
        else:
            cursor.execute(
                "INSERT INTO documents_page_fts (rowid, text) "
                "SELECT id, text FROM documents_documentpage WHERE document_id = %s",
                [document_id.hex],
            )
    return len(rows)


def index_remove_pages(*, document_id: uuid.UUID) -> None:
    if not is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM documents_page_fts WHERE rowid IN "
                "(SELECT id FROM documents_documentpage WHERE document_id = %s)",
                [document_id.hex],
            )
    DocumentPage.objects.filter(document_id=document_id).delete()
