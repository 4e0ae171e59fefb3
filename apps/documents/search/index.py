"""Writing a document's pages into the search index (called by the text service, in its transaction)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection, transaction

from apps.documents.models import Document, DocumentPage

# What a page copies from its document (DocumentPage's access columns) and what its `searchable` needs.
ACCESS_FIELDS = (
    "organisation_id",
    "patient_id",
    "category",
    "document_date",
    "is_current",
    "deleted_at",
    "purged_at",
    "scan_status",
    "integrity",
)

INSERT_BATCH = 500  # pages a statement

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
    """Replace the document's indexed pages with `pages` (page 1 first); empty pages are left out.

    Each page carries the document's access columns (`DocumentPage`), read here under a row lock so
    that a change of the document committed meanwhile cannot leave them behind: from then on the
    trigger of migration 0008 keeps them equal to the document's."""
    kept = [(number, text) for number, text in enumerate(pages, start=1) if text.strip()]
    with transaction.atomic():
        document = Document.objects.select_for_update(no_key=True).only(*ACCESS_FIELDS).get(pk=document_id)
        index_remove_pages(document_id=document_id)
        if not kept:
            return 0
        access: dict[str, Any] = {
            "organisation_id": document.organisation_id,
            "patient_id": document.patient_id,
            "category": document.category,
            "document_date": document.document_date,
            "searchable": document.is_current and document.is_available,
        }
        if is_postgresql():
            # One statement writes each page with its access columns and both vectors (not an insert,
            # then an update rewriting every row).
            with connection.cursor() as cursor:
                for start in range(0, len(kept), INSERT_BATCH):
                    batch = kept[start : start + INSERT_BATCH]
                    cursor.execute(
                        "INSERT INTO documents_documentpage (document_id, page_number, text, language, "
                        "organisation_id, patient_id, category, document_date, searchable, "
                        "search_stemmed, search_simple) "
                        "SELECT %s, page.number, page.text, %s, %s, %s, %s, %s, %s, "
                        "to_tsvector(%s::regconfig, page.text), to_tsvector('simple', page.text) "
                        "FROM unnest(%s::integer[], %s::text[]) AS page(number, text)",
                        [
                            document_id,
                            language,
                            access["organisation_id"],
                            access["patient_id"],
                            access["category"],
                            access["document_date"],
                            access["searchable"],
                            language,
                            [number for number, _ in batch],
                            [text for _, text in batch],
                        ],
                    )
            return len(kept)
        rows = [
            DocumentPage(document_id=document_id, page_number=number, text=text, language=language, **access)
            for number, text in kept
        ]
        DocumentPage.objects.bulk_create(rows, batch_size=INSERT_BATCH)
        with connection.cursor() as cursor:
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
