# ruff: noqa: S608 - statements built from this file's constants only, no values
"""The document's access columns on its pages, indexed with the vectors, and kept equal by a trigger.

Organisation-wide searches take their candidates from one GIN index over (organisation, category,
vector) of the searchable pages (btree_gin), instead of joining the pages with every visible
document (docs/search.md, "Speed"). The columns are filled from the documents here, written with
the pages by `index_replace_pages`, and follow every later change of the document through a
trigger on documents_document, on PostgreSQL and on SQLite alike.

On SQLite the search still joins the visible documents (the columns are not read there); a later
migration that remakes documents_document on SQLite (an AlterField does) drops the trigger with
the old table and must create it again (`SQLITE_TRIGGER`).
"""

import django.db.models.deletion
from django.db import migrations, models

# The document's state rule for search, as documents_visible_to and searchable_documents apply it:
# the current version, not deleted or purged, scanned clean or not scanned, integrity intact.
SEARCHABLE = (
    "({d}.is_current AND {d}.deleted_at IS NULL AND {d}.purged_at IS NULL "
    "AND {d}.scan_status IN ('clean', 'not_scanned') AND {d}.integrity = 'ok')"
)
FOLLOWED = ("organisation_id", "patient_id", "category", "document_date", "is_current", "deleted_at", "purged_at",
            "scan_status", "integrity")  # fmt: skip
_SET = (
    "organisation_id = {d}.organisation_id, patient_id = {d}.patient_id, category = {d}.category, "
    "document_date = {d}.document_date, searchable = " + SEARCHABLE
)

# Fill the columns of the pages already indexed (then check their new foreign keys at once: a table
# with pending constraint events cannot be altered in the same transaction).
POSTGRESQL_FILL = [
    "UPDATE documents_documentpage page SET " + _SET.format(d="d")
    + " FROM documents_document d WHERE d.id = page.document_id",
    "SET CONSTRAINTS ALL IMMEDIATE",
]  # fmt: skip
POSTGRESQL_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "DROP INDEX IF EXISTS document_page_stemmed",
    "DROP INDEX IF EXISTS document_page_simple",
    "CREATE INDEX document_page_stemmed ON documents_documentpage "
    "USING gin (organisation_id, category, search_stemmed) WHERE searchable",
    "CREATE INDEX document_page_simple ON documents_documentpage "
    "USING gin (organisation_id, category, search_simple) WHERE searchable",
    # Keep the vectors in the row, where every match and rank reads them, and let the text (read
    # only for the snippets shown) go out of line: by default a page's ~4 KB row sent both vectors
    # to TOAST, a fetch each per page tested. Rows written from now on; `reindex_text --all` (or
    # VACUUM FULL) rewrites older ones.
    "ALTER TABLE documents_documentpage SET (toast_tuple_target = 8160)",
    "ALTER TABLE documents_documentpage ALTER COLUMN text SET STORAGE EXTERNAL, "
    "ALTER COLUMN search_stemmed SET STORAGE MAIN, ALTER COLUMN search_simple SET STORAGE MAIN",
    # pg_trgm's word similarity costs the planner as little as `=` (COST 1), so on a small table it
    # tests every title in a sequential scan (36 ms at 10,000 documents) rather than use the trigram
    # index (under 1 ms). Its real cost is about a hundred times that. Where the database user does
    # not own the extension's functions this is skipped with a notice (plans then stay as they were).
    """DO $$
BEGIN
    ALTER FUNCTION word_similarity_op(text, text) COST 100;
    ALTER FUNCTION word_similarity_commutator_op(text, text) COST 100;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pg_trgm word similarity functions not owned by this user: their cost is left as it was';
END
$$""",
    f"""CREATE FUNCTION quill_document_pages_follow() RETURNS trigger AS $$
BEGIN
    UPDATE documents_documentpage SET {_SET.format(d="NEW")} WHERE document_id = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql""",
    f"""CREATE TRIGGER document_pages_follow AFTER UPDATE OF {", ".join(FOLLOWED)} ON documents_document
FOR EACH ROW WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in FOLLOWED)})
EXECUTE FUNCTION quill_document_pages_follow()""",
]  # fmt: skip
POSTGRESQL_BACKWARD = [
    "ALTER TABLE documents_documentpage RESET (toast_tuple_target)",
    "ALTER TABLE documents_documentpage ALTER COLUMN text SET STORAGE EXTENDED, "
    "ALTER COLUMN search_stemmed SET STORAGE EXTENDED, ALTER COLUMN search_simple SET STORAGE EXTENDED",
    "DROP TRIGGER IF EXISTS document_pages_follow ON documents_document",
    "DROP FUNCTION IF EXISTS quill_document_pages_follow()",
    "DROP INDEX IF EXISTS document_page_stemmed",
    "DROP INDEX IF EXISTS document_page_simple",
    "CREATE INDEX document_page_stemmed ON documents_documentpage USING gin (search_stemmed)",
    "CREATE INDEX document_page_simple ON documents_documentpage USING gin (search_simple)",
]
SQLITE_TRIGGER = f"""CREATE TRIGGER document_pages_follow AFTER UPDATE OF {", ".join(FOLLOWED)} ON documents_document
FOR EACH ROW WHEN ({" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in FOLLOWED)})
BEGIN
    UPDATE documents_documentpage SET {_SET.format(d="NEW")} WHERE document_id = NEW.id;
END"""
_SQLITE_SET = ", ".join(
    f"{column} = (SELECT {value} FROM documents_document d WHERE d.id = documents_documentpage.document_id)"
    for column, value in (
        ("organisation_id", "d.organisation_id"),
        ("patient_id", "d.patient_id"),
        ("category", "d.category"),
        ("document_date", "d.document_date"),
        ("searchable", SEARCHABLE.format(d="d")),
    )
)
SQLITE_FILL = [f"UPDATE documents_documentpage SET {_SQLITE_SET}"]
SQLITE_FORWARD = [SQLITE_TRIGGER]
SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS document_pages_follow"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("documents", "0007_page_search_indexes"),
        ("patients", "0003_restricted_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="documentpage",
            name="organisation",
            field=models.ForeignKey(
                null=True,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.organisation",
            ),
        ),
        migrations.AddField(
            model_name="documentpage",
            name="patient",
            field=models.ForeignKey(
                null=True,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="patients.patient",
            ),
        ),
        migrations.AddField(
            model_name="documentpage",
            name="category",
            field=models.CharField(
                choices=[
                    ("lab", "Lab report"),
                    ("imaging", "Imaging"),
                    ("clinical-note", "Clinical note"),
                    ("consent", "Consent form"),
                    ("referral", "Referral"),
                    ("insurance", "Insurance"),
                    ("photo", "Photograph"),
                    ("letter", "Letter"),
                    ("other", "Other"),
                ],
                default="",
                max_length=32,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="documentpage",
            name="document_date",
            field=models.DateField(null=True),
        ),
        migrations.AddField(
            model_name="documentpage",
            name="searchable",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(_run({"postgresql": POSTGRESQL_FILL, "sqlite": SQLITE_FILL}), migrations.RunPython.noop),
        migrations.AlterField(
            model_name="documentpage",
            name="organisation",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.organisation",
            ),
        ),
        migrations.AlterField(
            model_name="documentpage",
            name="patient",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="patients.patient",
            ),
        ),
        migrations.AlterField(
            model_name="documentpage",
            name="document_date",
            field=models.DateField(),
        ),
        migrations.AddIndex(
            model_name="documentpage",
            index=models.Index(
                condition=models.Q(("searchable", True)), fields=["patient"], name="document_page_patient"
            ),
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRESQL_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
