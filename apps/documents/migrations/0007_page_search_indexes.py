"""Search indexes that depend on the database: GIN and trigram indexes on PostgreSQL, an FTS5 table on SQLite."""

from django.db import migrations

POSTGRESQL_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX document_page_stemmed ON documents_documentpage USING gin (search_stemmed)",
    "CREATE INDEX document_page_simple ON documents_documentpage USING gin (search_simple)",
    "CREATE INDEX document_title_trigram ON documents_document USING gin (title gin_trgm_ops)",
]
POSTGRESQL_BACKWARD = [
    "DROP INDEX IF EXISTS document_title_trigram",
    "DROP INDEX IF EXISTS document_page_simple",
    "DROP INDEX IF EXISTS document_page_stemmed",
]
# Its rowid is the DocumentPage id; porter stemming over unicode61 (case and accents folded).
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE documents_page_fts USING fts5(text, tokenize = 'porter unicode61 remove_diacritics 2')",
]
SQLITE_BACKWARD = ["DROP TABLE IF EXISTS documents_page_fts"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("documents", "0006_text_extraction_and_pages")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRESQL_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
