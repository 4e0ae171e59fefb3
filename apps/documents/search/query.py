"""Searching the text of the documents a user may see (selectors: they read, never write or audit).

Access is the document list's own: the documents `searchable_documents(user, scope)` returns
(`document_list`: organisation, role × category, restricted records and break-glass, deleted, the
current version; then only available ones: clean or not scanned, integrity intact), and every
page, snippet and count is taken from inside that set, so nothing of another document can
appear, not even in the total. On PostgreSQL the same rules are applied to the pages' own copy
of their document's columns, so the candidates come from one index (below, "PostgreSQL").

PostgreSQL ranks pages matching `websearch_to_tsquery` in the organisation's stemming
configuration or in `simple` (codes, drug names and numbers as typed), adds titles that are
close to the words typed (pg_trgm word similarity, typo-tolerant), and keeps each
document's best page with a `ts_headline` snippet. SQLite (the embedded run) asks FTS5 the
same question through the same function.
"""

from __future__ import annotations

import html
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import BooleanField, Model, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.safestring import SafeString, mark_safe

from apps.accounts.models import User
from apps.documents.models import AVAILABLE_SCAN_STATUSES, Document, DocumentPage, Integrity, TextSettings
from apps.documents.permissions import allowed_categories
from apps.documents.search.index import is_postgresql, stemming_config
from apps.documents.selectors import DocumentFilters, document_list
from apps.patients.access import restricted_closed_sql

MAX_QUERY_LENGTH = 200
_SHOWN_RELATIONS = ("uploaded_by", "patient")  # what results show besides the document (as the list)
# At most this many matching pages (and title matches) are ranked; past it the total is "more than".
CANDIDATES = 1000
TITLE_SIMILARITY = 0.5  # pg_trgm word similarity a title needs to match a query with no text hit
_START, _STOP = "\u27ea", "\u27eb"  # ⟪ ⟫: marks hits in snippets before they are escaped and made <mark>
_HEADLINE_OPTIONS = (
    f'StartSel={_START}, StopSel={_STOP}, MaxWords=24, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class SearchScope:
    patient_id: uuid.UUID | None = None
    category: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def as_audit(self) -> dict[str, str]:
        return {name: str(value) for name, value in vars(self).items() if value}


@dataclass
class SearchHit:
    document: Document
    page: int | None  # the best page; None when only the title matched
    pages: list[int] = field(default_factory=list)  # every page that matched, in order
    snippet: SafeString = field(default_factory=lambda: mark_safe(""))
    rank: float = 0.0


@dataclass
class SearchResults:
    hits: list[SearchHit]
    total: int  # documents matched; a lower bound when `total_exact` is false
    total_exact: bool = True


@dataclass(frozen=True)
class PageText:
    number: int
    text: str


def searchable_documents(*, user: User, scope: SearchScope) -> QuerySet[Document]:
    """The documents `user` may find: the list's own selector, then only available ones."""
    filters = DocumentFilters(
        patient_id=scope.patient_id, category=scope.category, date_from=scope.date_from, date_to=scope.date_to
    )
    return document_list(user=user, filters=filters).filter(
        scan_status__in=AVAILABLE_SCAN_STATUSES, integrity=Integrity.OK
    )


def document_search(
    *, user: User, q: str, scope: SearchScope, offset: int = 0, limit: int = 25, candidates: int = CANDIDATES
) -> SearchResults:
    """Documents matching `q` that `user` may see, best first, one hit (its best page) per document.

    Only the first `candidates` matching pages are ranked (docs/search.md, "Speed"): when more
    match, `total` is the number of documents among them and `total_exact` is false."""
    q = q.strip()[:MAX_QUERY_LENGTH]
    if not q or user.organisation_id is None or allowed_categories(user) == frozenset():
        return SearchResults(hits=[], total=0)
    if is_postgresql() and scope.patient_id and PATIENT_STATEMENT:
        found = _search_patient_postgresql(user, scope, q, offset, limit, candidates)
        if found is not None:  # None: past the candidate cap, where the general statement answers
            return found
    if is_postgresql():
        rows, total, exact = _search_postgresql(user, scope, q, offset, limit, candidates)
    else:
        rows, total, exact = _search_sqlite(searchable_documents(user=user, scope=scope), q, offset, limit, candidates)
    if not rows:
        return SearchResults(hits=[], total=total, total_exact=exact)
    # The documents shown. Their rows were chosen under the list's rules above; the organisation is
    # checked once more here, so that not even a mistake there could show another organisation's.
    documents = (
        Document.objects.select_related(*_SHOWN_RELATIONS)
        .filter(organisation_id=user.organisation_id)
        .order_by()
        .in_bulk([row[0] for row in rows])
    )
    hits = [
        SearchHit(document=documents[document_id], page=page, pages=pages, snippet=_snippet(raw), rank=rank)
        for document_id, page, pages, raw, rank in rows
        if document_id in documents
    ]
    return SearchResults(hits=hits, total=total, total_exact=exact)


# The organisation's stemming configuration, kept in this process for a minute (or until its text
# settings are saved here): asking the database for it was a round trip on every search. Another
# process sees a changed language within CONFIG_SECONDS; pages keep the configuration they were
# stemmed with either way.
CONFIG_SECONDS = 60.0
_configs: dict[uuid.UUID, tuple[float, str]] = {}


def _organisation_config(organisation_id: uuid.UUID) -> str:
    now = time.monotonic()
    cached = _configs.get(organisation_id)
    if cached is not None and now - cached[0] < CONFIG_SECONDS:
        return cached[1]
    chosen = TextSettings.objects.filter(organisation_id=organisation_id).values_list("ocr_languages", flat=True)
    languages = next(iter(chosen), "")
    config = stemming_config((languages or settings.QUILL_OCR_LANGUAGES).split("+"))
    _configs[organisation_id] = (now, config)
    return config


def forget_organisation_config(organisation_id: uuid.UUID | None = None) -> None:
    """Drop the cached stemming configuration (of one organisation, or all): its text settings changed."""
    if organisation_id is None:
        _configs.clear()
    else:
        _configs.pop(organisation_id, None)


def _snippet(raw: str) -> SafeString:
    """Escape the page text, then turn the hit marks into <mark>: no document text is ever markup."""
    escaped = html.escape(" ".join(raw.split()))
    return mark_safe(escaped.replace(_START, "<mark>").replace(_STOP, "</mark>"))  # noqa: S308 - escaped above


# --- PostgreSQL ----------------------------------------------------------------------------------------
#
# Every value is a parameter. The tsqueries are written out where they are used (not read from a CTE)
# so that the planner sees constants and estimates each word's frequency from the vectors' statistics.
#
# Access (docs/search.md, "Access rules") is the document list's, applied to columns without a join:
# the candidate pages are read from the pages' own copy of their document's access columns
# (DocumentPage: organisation, category, patient, clinical date, and `searchable`, the document's
# state), so that an organisation-wide search takes them from one GIN index over (organisation,
# category, vector) of the searchable pages; title matches apply the same rules to the documents'
# columns. The restricted-record rule depends on the caller: the patients app's own
# `restricted_closed_sql(user)` (`restricted_closed_to` as SQL) is applied by patient id in both.
# tests/documents/test_search_access.py checks that both select exactly `searchable_documents`.
#
# The work is bounded (docs/search.md, "Speed"): `candidates` takes at most %(candidates)s matching
# visible pages, in the order the index yields them, and ranks only those; a common word stops
# there instead of ranking every page it is on. Documents are ranked by their best candidate page
# (plus the title's similarity), one page of them is taken, and only for that page of results
# are every matching page listed and a snippet made. The total counts the matched documents among
# the candidates: exact when fewer than the cap matched, otherwise a lower bound (`exact` false).
_STEMMED = "websearch_to_tsquery(%(config)s::regconfig, %(q)s)"
_SIMPLE = "websearch_to_tsquery('simple', %(q)s)"
# A page matching the words as typed (`simple`) matches them stemmed too, unless stemming dropped a
# word (a stop word: fewer nodes) or the query excludes one (`!`); only then is the `simple` vector
# tested as well. The condition is on constants: the planner folds it, and otherwise reads one index.
_SIMPLE_ADDS = f"NOT (numnode({_STEMMED}) = numnode({_SIMPLE}) AND strpos({_SIMPLE}::text, '!') = 0)"
_MATCHES = f"(page.search_stemmed @@ {_STEMMED} OR (page.search_simple @@ {_SIMPLE} AND {_SIMPLE_ADDS}))"
_RANK = f"ts_rank_cd(page.search_stemmed, {_STEMMED}) + ts_rank_cd(page.search_simple, {_SIMPLE})"
# The document's state rule (DocumentPage.searchable, as documents_visible_to and
# searchable_documents apply it): current version, not deleted or purged, available, intact.
_DOCUMENT_STATE = (
    "document.is_current AND document.deleted_at IS NULL AND document.purged_at IS NULL "
    "AND document.scan_status IN ({available}) AND document.integrity = %(intact)s"
)
_POSTGRESQL = f"""
WITH candidates AS MATERIALIZED (
    SELECT page.document_id, {_RANK} AS rank
    FROM documents_documentpage page
    WHERE page.searchable AND {{pages}} AND {_MATCHES}
    LIMIT %(candidates)s
),
by_document AS (
    SELECT document_id, max(rank) AS rank FROM candidates GROUP BY document_id
),
title_hits AS MATERIALIZED (
    SELECT document.id AS document_id, word_similarity(%(q)s, document.title) AS similarity
    FROM documents_document document
    WHERE %(q)s <%% document.title AND {_DOCUMENT_STATE} AND {{documents}}
    LIMIT %(candidates)s
),
matched AS MATERIALIZED (
    SELECT coalesce(b.document_id, t.document_id) AS document_id,
           coalesce(b.rank, 0) + coalesce(t.similarity, 0) * 0.5 AS rank
    FROM by_document b FULL OUTER JOIN title_hits t ON t.document_id = b.document_id
    WHERE b.document_id IS NOT NULL OR t.similarity >= %(title_similarity)s
),
counted AS (
    SELECT (SELECT count(*) FROM matched) AS total,
           (SELECT count(*) FROM candidates) < %(candidates)s
           AND (SELECT count(*) FROM title_hits) < %(candidates)s AS exact
),
ranked AS (
    SELECT * FROM matched ORDER BY rank DESC, document_id LIMIT %(limit)s OFFSET %(offset)s
)
SELECT ranked.document_id, hit.best_page, hit.pages,
       CASE WHEN best.text IS NULL THEN '' ELSE ts_headline(
           best.language::regconfig, best.text, {_STEMMED} || {_SIMPLE}, %(options)s
       ) END,
       ranked.rank, counted.total, counted.exact
FROM ranked CROSS JOIN counted
LEFT JOIN LATERAL (
    SELECT (array_agg(page.page_number ORDER BY {_RANK} DESC, page.page_number))[1] AS best_page,
           array_agg(page.page_number ORDER BY page.page_number) AS pages
    FROM documents_documentpage page
    WHERE page.document_id = ranked.document_id AND {_MATCHES}
) hit ON true
LEFT JOIN documents_documentpage best ON best.document_id = ranked.document_id AND best.page_number = hit.best_page
ORDER BY ranked.rank DESC, ranked.document_id
"""  # noqa: S608 - only constants are formatted in; every value is a parameter


# The patient scope (docs/search.md, "Speed"): a patient's matching pages are few, so one slimmer
# statement ranks all of them (no candidate cap, no separate count), lists each document's matching
# pages from the same rows, and returns the columns of the documents shown (with their uploader and
# patient, as the list shows them) instead of a second query to load them. The access rules, the
# state rule and the title matches are the general statement's own. Should the patient's pages
# reach the cap after all, the general statement answers instead (None), so both agree exactly.
# `PATIENT_STATEMENT` false sends the patient scope through the general statement (bench/search.py
# measures both in the same run).
PATIENT_STATEMENT = True
_PATIENT_POSTGRESQL = f"""
WITH pages AS MATERIALIZED (
    SELECT page.document_id, page.page_number, {_RANK} AS rank
    FROM documents_documentpage page
    WHERE page.searchable AND {{pages}} AND {_MATCHES}
    LIMIT %(candidates)s
),
by_document AS (
    SELECT document_id, max(rank) AS rank,
           (array_agg(page_number ORDER BY rank DESC, page_number))[1] AS best_page,
           array_agg(page_number ORDER BY page_number) AS pages
    FROM pages GROUP BY document_id
),
title_hits AS MATERIALIZED (
    SELECT document.id AS document_id, word_similarity(%(q)s, document.title) AS similarity
    FROM documents_document document
    WHERE %(q)s <%% document.title AND {_DOCUMENT_STATE} AND {{documents}}
    LIMIT %(candidates)s
),
matched AS MATERIALIZED (
    SELECT coalesce(b.document_id, t.document_id) AS document_id,
           coalesce(b.rank, 0) + coalesce(t.similarity, 0) * 0.5 AS rank, b.best_page, b.pages
    FROM by_document b FULL OUTER JOIN title_hits t ON t.document_id = b.document_id
    WHERE b.document_id IS NOT NULL OR t.similarity >= %(title_similarity)s
),
ranked AS (
    SELECT * FROM matched ORDER BY rank DESC, document_id LIMIT %(limit)s OFFSET %(offset)s
)
SELECT ranked.best_page, ranked.pages,
       CASE WHEN best.text IS NULL THEN '' ELSE ts_headline(
           best.language::regconfig, best.text, {_STEMMED} || {_SIMPLE}, %(options)s
       ) END,
       ranked.rank, (SELECT count(*) FROM matched),
       (SELECT count(*) FROM pages) < %(candidates)s AND (SELECT count(*) FROM title_hits) < %(candidates)s,
       {{columns}}
FROM ranked
JOIN documents_document shown ON shown.id = ranked.document_id AND shown.organisation_id = %(organisation)s
JOIN {{uploader_table}} shown_uploader ON shown_uploader.id = shown.uploaded_by_id
JOIN {{patient_table}} shown_patient ON shown_patient.id = shown.patient_id
LEFT JOIN documents_documentpage best ON best.document_id = ranked.document_id AND best.page_number = ranked.best_page
ORDER BY ranked.rank DESC, ranked.document_id
"""  # noqa: S608 - only constants are formatted in; every value is a parameter
# The shown documents' columns (and their uploader's and patient's), in the models' field order, with
# the converters Django's own queries apply (JSON, for one): read as `select_related` would.
_SHOWN_MODELS: list[tuple[str, type[Model]]] = []


def _shown_models() -> list[tuple[str, type[Model]]]:
    if not _SHOWN_MODELS:
        _SHOWN_MODELS.extend([("shown", Document)])
        _SHOWN_MODELS.extend(
            (f"shown_{'uploader' if name == 'uploaded_by' else name}", Document._meta.get_field(name).related_model)  # type: ignore[misc]
            for name in _SHOWN_RELATIONS
        )
    return _SHOWN_MODELS


def _shown_columns() -> str:
    return ", ".join(
        f'{alias}."{field.column}"' for alias, model in _shown_models() for field in model._meta.concrete_fields
    )


_CONVERTERS: dict[type[Model], list[tuple[int, list, Any]]] = {}
_ATTNAMES: dict[type[Model], list[str]] = {}


def _converters(model: type[Model]) -> list[tuple[int, list, Any]]:
    """(position, converters, column) of the model's fields whose values Django converts on reading."""
    if model not in _CONVERTERS:
        found = []
        for position, field in enumerate(model._meta.concrete_fields):
            column = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if converters:
                found.append((position, converters, column))
        _CONVERTERS[model] = found
        _ATTNAMES[model] = [field.attname for field in model._meta.concrete_fields]
    return _CONVERTERS[model]


def _read_model(model: type[Model], values: tuple, database: Any) -> Model:
    converted = list(values)
    for position, converters, column in _converters(model):
        for converter in converters:
            converted[position] = converter(converted[position], column, database)
    return model.from_db(database.alias, _ATTNAMES[model], converted)


def _shown_document(values: tuple) -> Document:
    """The document of one result row, with its uploader and patient cached as `select_related` does."""
    models = _shown_models()
    database = connections[DEFAULT_DB_ALIAS]  # (not the `connection` proxy, looked up on every use)
    read: list[Model] = []
    start = 0
    for _, model in models:
        count = len(model._meta.concrete_fields)
        read.append(_read_model(model, values[start : start + count], database))
        start += count
    document = read[0]
    for name, related in zip(_SHOWN_RELATIONS, read[1:], strict=True):
        Document._meta.get_field(name).set_cached_value(document, related)  # type: ignore[union-attr]
    return document  # type: ignore[return-value]


_PREPARED_CURSOR: list[type] = []


def _prepared_cursor(raw_connection: Any) -> Any:
    """A cursor that binds values on the server and prepares the statement (once per text and
    connection), so that PostgreSQL may keep its plan: planning the patient statement took longer
    than running it. Its text holds no value (one per shape of the access rules), and a patient's
    pages are few, so a generic plan (the patient's partial index) serves every patient; PostgreSQL
    still compares it with custom plans before it keeps one. (Made on first use: the PostgreSQL
    backend is imported only where it runs.)"""
    if not _PREPARED_CURSOR:
        from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]

        class PreparedCursor(ServerBindingCursor):
            def execute(self, query, params=None, *, prepare=None, binary=None):
                return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

        _PREPARED_CURSOR.append(PreparedCursor)
    if raw_connection.prepare_threshold is None:
        # Django turns psycopg's preparing off (None) for every statement. Its own cursors bind on the
        # client and never prepare, so a threshold never reached leaves them as they are and lets
        # this cursor's explicit `prepare=True` through.
        raw_connection.prepare_threshold = 2**31 - 1
    return _PREPARED_CURSOR[0](raw_connection)


def _search_patient_postgresql(
    user: User, scope: SearchScope, q: str, offset: int, limit: int, candidates: int
) -> SearchResults | None:
    params, available = _search_params(user, q, offset, limit, candidates)
    models = dict(_shown_models())
    sql = (
        _PATIENT_POSTGRESQL.replace("{available}", available)
        .replace("{pages}", _access_sql(user, scope, "page", params))
        .replace("{documents}", _access_sql(user, scope, "document", params))
        .replace("{columns}", _shown_columns())
        .replace("{uploader_table}", models["shown_uploader"]._meta.db_table)
        .replace("{patient_table}", models["shown_patient"]._meta.db_table)
    )
    connection.ensure_connection()
    connection.validate_thread_sharing()
    # Wrapped as Django wraps its own cursors (errors, execute wrappers); logged, when queries are, with
    # its values written in (Django's debug cursor reads a client-bound statement's text, which this is not).
    with connection.make_cursor(_prepared_cursor(connection.connection)) as cursor:
        started = time.monotonic()
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    if connection.queries_logged:
        spent = time.monotonic() - started
        logged = connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]
        connection.queries_log.append({"sql": logged, "time": f"{spent:.3f}"})
    if fetched:
        total, exact = fetched[0][4], fetched[0][5]
    elif offset == 0:
        total, exact = 0, True
    else:  # the page asked for is past the last hit: the count had no row to ride on
        first = _search_patient_postgresql(user, scope, q, 0, 1, candidates)
        return first if first is None else SearchResults(hits=[], total=first.total, total_exact=first.total_exact)
    if not exact:
        return None
    hits = [
        SearchHit(
            document=_shown_document(row[6:]),
            page=row[0],
            pages=list(row[1] or []),
            snippet=_snippet(row[2] or ""),
            rank=float(row[3]),
        )
        for row in fetched
    ]
    return SearchResults(hits=hits, total=total, total_exact=True)


def _access_sql(user: User, scope: SearchScope, alias: str, params: dict[str, Any]) -> str:
    """The list's access rules and the scope's filters on `alias`'s columns (a page's copy of its
    document's, or the document's own), with their values added to `params`; the state rule apart."""
    conditions = [f"{alias}.organisation_id = %(organisation)s"]
    params["organisation"] = user.organisation_id
    allowed = allowed_categories(user)
    if allowed is not None:  # billing: one category, so `=`, which the GIN index can take (btree_gin)
        conditions.append(f"{alias}.category IN ({_values('allowed', sorted(allowed), params)})")
    if scope.category:
        conditions.append(f"{alias}.category = %(category)s")
        params["category"] = scope.category
    if scope.patient_id:
        conditions.append(f"{alias}.patient_id = %(patient)s")
        params["patient"] = scope.patient_id
    if scope.date_from:
        conditions.append(f"{alias}.document_date >= %(date_from)s")
        params["date_from"] = scope.date_from
    if scope.date_to:
        conditions.append(f"{alias}.document_date <= %(date_to)s")
        params["date_to"] = scope.date_to
    # The patients app's own rule (`restricted_closed_to`), as SQL with named parameters.
    closed, closed_params = restricted_closed_sql(user, f"{alias}.patient_id")
    conditions.append(closed)
    params.update(closed_params)
    return " AND ".join(conditions)


def _search_params(user: User, q: str, offset: int, limit: int, candidates: int) -> tuple[dict[str, Any], str]:
    """The values both search statements take, and the placeholders of the available scan states."""
    params: dict[str, Any] = {
        "q": q,
        "config": _organisation_config(user.organisation_id),  # type: ignore[arg-type]
        "limit": limit,
        "offset": offset,
        "options": _HEADLINE_OPTIONS,
        "title_similarity": TITLE_SIMILARITY,
        "candidates": candidates,
        "intact": Integrity.OK,
    }
    return params, _values("available", list(AVAILABLE_SCAN_STATUSES), params)


def _values(prefix: str, values: list, params: dict[str, Any]) -> str:
    """Named placeholders for `values` (added to `params`), comma-separated, for an IN list."""
    params.update({f"{prefix}{index}": value for index, value in enumerate(values)})
    return ", ".join(f"%({prefix}{index})s" for index in range(len(values)))


def _search_postgresql(user: User, scope: SearchScope, q: str, offset: int, limit: int, candidates: int):
    params, available = _search_params(user, q, offset, limit, candidates)
    sql = (
        _POSTGRESQL.replace("{available}", available)
        .replace("{pages}", _access_sql(user, scope, "page", params))
        .replace("{documents}", _access_sql(user, scope, "document", params))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    if fetched:
        total, exact = fetched[0][5], fetched[0][6]
    elif offset == 0:
        total, exact = 0, True
    else:  # the page asked for is past the last hit: the count had no row to ride on
        _, total, exact = _search_postgresql(user, scope, q, 0, 1, candidates)
    rows = [(row[0], row[1], list(row[2] or []), row[3] or "", float(row[4])) for row in fetched]
    return rows, total, exact


# --- SQLite (FTS5) -----------------------------------------------------------------------------------

_WORDS = re.compile(r'"([^"]+)"|(-?)(\w+)', re.UNICODE)


def fts5_query(q: str) -> str:
    """websearch-like input as an FTS5 query: words and "phrases" all required, -word excluded, `or` between."""
    terms: list[str] = []
    excluded: list[str] = []
    for phrase, minus, word in _WORDS.findall(q):
        if word and word.lower() == "or" and terms:
            terms.append("OR")
            continue
        text = phrase or word
        quoted = '"' + text.replace('"', "") + '"'
        (excluded if minus else terms).append(quoted)
    while terms and terms[-1] == "OR":
        terms.pop()
    if not terms:
        return ""
    query = " ".join(terms)
    for term in excluded:
        query = f"({query}) NOT {term}"
    return query


_SQLITE = """
SELECT page.document_id, page.page_number, bm25(documents_page_fts) AS score,
       snippet(documents_page_fts, 0, %s, %s, ' … ', 24)
FROM documents_page_fts JOIN documents_documentpage page ON page.id = documents_page_fts.rowid
WHERE documents_page_fts MATCH %s AND page.document_id IN ({visible})
ORDER BY score
LIMIT %s
"""


def _search_sqlite(visible: QuerySet, q: str, offset: int, limit: int, candidates: int):
    """FTS5 ranks inside its own index (bm25), so the best `candidates` pages are kept, not the first."""
    match = fts5_query(q)
    if not match:
        return [], 0, True
    visible_sql, visible_params = visible.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(_SQLITE.replace("{visible}", visible_sql), [_START, _STOP, match, *visible_params, candidates])
        fetched = cursor.fetchall()
    best: dict[uuid.UUID, list] = {}
    for document_id, page_number, score, snippet in fetched:
        key = uuid.UUID(str(document_id))
        if key not in best:
            best[key] = [key, page_number, [page_number], snippet, -float(score)]
        else:
            best[key][2].append(page_number)
    ordered = sorted(best.values(), key=lambda row: (-row[4], str(row[0])))
    shown = ordered[offset : offset + limit]
    pages = _sqlite_matching_pages(match, [row[0] for row in shown]) if len(fetched) >= candidates else {}
    for row in shown:
        row[2] = sorted(pages.get(row[0], row[2]))
    return [tuple(row) for row in shown], len(ordered), len(fetched) < candidates


def _sqlite_matching_pages(match: str, document_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[int]]:
    """Every matching page of the documents shown (the capped candidates may have missed some)."""
    if not document_ids:
        return {}
    pages: dict[uuid.UUID, list[int]] = {}
    for document_id, number in DocumentPage.objects.filter(
        document_id__in=document_ids,
        id__in=RawSQL("SELECT rowid FROM documents_page_fts WHERE documents_page_fts MATCH %s", [match]),
    ).values_list("document_id", "page_number"):
        pages.setdefault(document_id, []).append(number)
    return pages


# --- for other parts of Quill (the inbox, the viewer) ---------------------------------------------------


def document_text_pages(*, document_id: uuid.UUID | str) -> list[PageText]:
    """The extracted text of one document, page by page (pages without text left out).

    For callers that have already authorised the document (`document_get_for`) or that act
    for the system (the inbox's suggestions). Empty until its text_status is `done`.
    """
    rows = DocumentPage.objects.filter(document_id=document_id).order_by("page_number")
    return [PageText(number=number, text=text) for number, text in rows.values_list("page_number", "text")]


def documents_with_text_condition(text: str) -> Q:
    """A condition on Document: some page's text matches `text` (web search syntax), in the page's own
    stemming or as typed. For filters that already hold the access rules (FHIR `_content`)."""
    text = text.strip()[:MAX_QUERY_LENGTH]
    if is_postgresql():
        matches = DocumentPage.objects.filter(
            RawSQL(
                "(search_stemmed @@ websearch_to_tsquery(language::regconfig, %s) "
                "OR search_simple @@ websearch_to_tsquery('simple', %s))",
                [text, text],
                output_field=BooleanField(),
            )
        )
    else:
        match = fts5_query(text)
        if not match:
            return Q(pk__in=[])
        matches = DocumentPage.objects.filter(
            id__in=RawSQL("SELECT rowid FROM documents_page_fts WHERE documents_page_fts MATCH %s", [match])
        )
    return Q(pk__in=matches.values("document_id"))
