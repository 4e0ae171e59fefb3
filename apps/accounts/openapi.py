"""Schema hook: the refusals every API operation shares, because the input guard, authentication
and throttling run before any view (middleware, DRF's `initial()`), so no view can document them itself."""

from __future__ import annotations

from typing import Any

from quill.openapi import merge_refusals

UNSAFE_METHODS = {"post", "put", "patch", "delete"}


def add_shared_refusals(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry, on every operation: 400 from the input guard (quill/input_guard.py and
    quill/parsers.py: a NUL, a broken character or bytes that are not UTF-8 anywhere in the request),
    401/403 from authentication, 429 from throttling."""
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            schemes = {name for requirement in operation.get("security", []) for name in requirement}
            statuses: dict[int, set[str]] = {400: {"invalid_characters"}, 429: {"throttled"}}
            if "tokenAuth" in schemes:
                # A token that is sent is checked even where none is needed (e.g. the API root).
                statuses[401] = {"authentication_failed", "token_expired", "token_revoked"}
                statuses[403] = {"ip_not_allowed"}
                if {} not in operation["security"]:
                    statuses[401].add("not_authenticated")
            if "cookieAuth" in schemes and method in UNSAFE_METHODS:
                statuses.setdefault(403, set()).add("permission_denied")  # a session without its CSRF token
            merge_refusals(operation, statuses)
            throttled = operation["responses"]["429"]
            throttled["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait.", "required": True}
            }
    return result
