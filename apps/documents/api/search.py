"""Searching the text of documents: `GET /api/documents/search?q=...` (docs/search.md)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apps.documents.api._common import _validated
from apps.documents.permissions import ensure_document_role
from apps.documents.search.query import SearchScope, document_search
from apps.documents.serializers import DocumentSearchHitSerializer, DocumentSearchQuerySerializer, DocumentSerializer
from apps.documents.services.searching import document_search_record
from apps.patients.access import PatientAction
from apps.patients.errors import BreakGlassRequired, RestrictedRecord, RoleRequired
from apps.patients.selectors import patient_get_for
from quill.api import APIView, Pagination, query_parameter_names, refuse_empty
from quill.errors import NotFound, PermissionDenied
from quill.openapi import PAGE_PARAMETERS, paginated, refusals
from quill.types import AuthenticatedRequest

SEARCH_PAGE = type(
    "PaginatedDocumentSearchResultsSerializer",
    (paginated(DocumentSearchHitSerializer),),
    {
        "count_exact": serializers.BooleanField(
            help_text="False when `count` is a lower bound: more documents match than Quill ranks for one "
            'search (docs/search.md, "Speed"); narrow the search to see the rest.'
        )
    },
)


class DocumentSearchView(APIView):
    query_parameters = {"get": query_parameter_names([DocumentSearchQuerySerializer, *PAGE_PARAMETERS])}

    @extend_schema(
        operation_id="documents_search",
        parameters=[DocumentSearchQuerySerializer, *PAGE_PARAMETERS],
        responses={
            200: SEARCH_PAGE,
            **refusals(NotFound, PermissionDenied, RoleRequired, BreakGlassRequired, RestrictedRecord,
                       request=DocumentSearchQuerySerializer),
        },
        description="Documents whose text or title matches `q`, best first, one result per document with "
        "its best page, every matching page and a highlighted snippet. Exactly the documents the list "
        "shows the caller (role, restricted records, deleted and unscanned documents excluded), and the "
        "count counts only those. Unknown or empty parameters are refused (400), not ignored. The search "
        "is audited with its words, filters and count, never the documents' text.",
    )  # fmt: skip
    def get(self, request: AuthenticatedRequest) -> Response:
        ensure_document_role(user=request.user)
        refuse_empty(request.query_params, DocumentSearchQuerySerializer().fields.keys())
        params = _validated(DocumentSearchQuerySerializer, request.query_params)
        if params.get("patient_id"):
            patient_get_for(user=request.user, patient_id=params["patient_id"], action=PatientAction.VIEW)
        scope = SearchScope(
            patient_id=params.get("patient_id"),
            category=params.get("category", ""),
            date_from=params.get("date_from"),
            date_to=params.get("date_to"),
        )
        page_size = Pagination().get_page_size(request) or 25  # checks `page` and `page_size` too (400)
        page = int(request.query_params.get("page", "1"))
        results = document_search(
            user=request.user, q=params["q"], scope=scope, offset=(page - 1) * page_size, limit=page_size
        )
        document_search_record(actor=request.user, q=params["q"], scope=scope, results=results.total, via="api")
        if page > 1 and not results.hits:
            raise NotFound("There is no such page of results.")
        url = request.build_absolute_uri()
        last = (page - 1) * page_size + len(results.hits) >= results.total
        return Response(
            {
                "count": results.total,
                "count_exact": results.total_exact,
                "next": None if last else replace_query_param(url, "page", page + 1),
                "previous": None
                if page == 1
                else (remove_query_param(url, "page") if page == 2 else replace_query_param(url, "page", page - 1)),
                "results": [
                    {
                        "document": DocumentSerializer(hit.document).data,
                        "page": hit.page,
                        "pages": hit.pages,
                        "snippet": str(hit.snippet),
                        "rank": round(hit.rank, 6),
                    }
                    for hit in results.hits
                ],
            }
        )
