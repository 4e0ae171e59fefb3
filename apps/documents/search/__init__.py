"""Full-text search over documents' pages: the index (written by the text service) and the query
(read by the portal, the API and FHIR `_content`). PostgreSQL `tsvector` with GIN in production,
SQLite FTS5 in the embedded run, behind the same functions (docs/search.md)."""
