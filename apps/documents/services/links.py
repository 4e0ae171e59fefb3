"""Quill's own signed download links (filesystem storage): a credential checked again at every use.

A link names the document, the user who asked for it and how they were signed in (the API
token's id, or the session generation that "sign out everywhere" raises), and expires after
``QUILL_SIGNED_URL_SECONDS``. Whoever holds it may download the document once or many times
until then, but only while the document may still be served (not deleted, purged, quarantined
or corrupt) and while its issuer may still read it: their account active and still in the
document's organisation, their role still allowing its category, the token not revoked or
expired, their sessions not ended everywhere. Every use and every refusal is audited.

An S3 presigned URL cannot be checked like this: S3 serves it until it expires (see
docs/security.md, "Download links").
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.core import signing

from apps.accounts.models import ApiToken, User
from apps.accounts.selectors import api_token_usable_by, user_get
from apps.audit.actions import Action
from apps.audit.services import audit_denied
from apps.documents.errors import SignedLinkExpired, SignedLinkInvalid, SignedLinkRevoked
from apps.documents.models import Document

_SALT = "quill.documents.signed-link"


@dataclass(frozen=True)
class SignedLink:
    document_id: uuid.UUID
    issuer: User
    api_token_id: str | None


def signed_link_issue(
    *, actor: User, document: Document, api_token: ApiToken | None, expires_in: int
) -> tuple[str, float]:
    """A signed link token for `document` on `actor`'s behalf, and when it expires (a Unix time).

    The caller has authorised `actor` for the document and audits the issue.
    """
    expires_at = time.time() + expires_in
    payload: dict[str, object] = {"d": str(document.pk), "u": actor.pk, "e": int(expires_at)}
    if api_token is not None:
        payload["t"] = str(api_token.pk)
    else:
        payload["g"] = actor.session_generation
    return signing.dumps(payload, salt=_SALT), expires_at


def signed_link_open(*, token: str) -> SignedLink:
    """The link's document and issuer, if the link is genuine, unexpired and its issuer still stands.

    Raises (and audits) ``SignedLinkInvalid``, ``SignedLinkExpired`` or ``SignedLinkRevoked``. The
    document itself is checked by the caller, as for any other read: ``document_get_for`` with the
    issuer, which refuses (and audits) what the issuer may no longer see.
    """
    try:
        payload = signing.loads(token, salt=_SALT)
        document_id = uuid.UUID(str(payload["d"]))
        user_id, expires_at = int(payload["u"]), int(payload["e"])
    except (signing.BadSignature, ValueError, KeyError, TypeError) as exc:
        audit_denied(action=Action.ACCESS_DENIED, actor=None, reason=SignedLinkInvalid.error_code)
        raise SignedLinkInvalid() from exc
    issuer = user_get(user_id=user_id)
    if issuer is None:
        audit_denied(action=Action.ACCESS_DENIED, actor=None, reason=SignedLinkInvalid.error_code)
        raise SignedLinkInvalid()
    if expires_at < time.time():
        _refuse(issuer, document_id, SignedLinkExpired(), why="expired")
    why = _revoked_because(issuer, payload)
    if why:
        _refuse(issuer, document_id, SignedLinkRevoked(), why=why)
    token_id = payload.get("t")
    return SignedLink(document_id=document_id, issuer=issuer, api_token_id=str(token_id) if token_id else None)


def _revoked_because(issuer: User, payload: dict) -> str:
    """Why the issuer no longer stands behind the link, or "" while they do."""
    if not issuer.is_active:
        return "user_inactive"
    if issuer.organisation_id is None:
        return "user_without_organisation"
    if "t" in payload:
        return "" if api_token_usable_by(token_id=payload["t"], user=issuer) else "api_token_unusable"
    if payload.get("g") != issuer.session_generation:
        return "signed_out_everywhere"
    return ""


def _refuse(issuer: User, document_id: uuid.UUID, refusal: SignedLinkExpired | SignedLinkRevoked, *, why: str):
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=issuer,
        reason=refusal.error_code,
        object_type="document",
        object_id=document_id,
        details={"attempted": Action.DOCUMENT_LINK_USED.value, "why": why},
    )
    raise refusal
