"""Who may work with the inbox: clinicians, administrators and owners (not billing); denials audited."""

from __future__ import annotations

from apps.accounts.models import User
from apps.accounts.roles import CLINICAL_ROLES
from apps.audit.actions import Action
from apps.audit.services import audit_denied
from quill.errors import PermissionDenied


def ensure_inbox_role(*, user: User, attempted: str) -> None:
    if user.has_role(*CLINICAL_ROLES):
        return
    audit_denied(action=Action.ACCESS_DENIED, actor=user, reason="role", object_type="inbox_item",
                 details={"attempted": attempted})  # fmt: skip
    raise PermissionDenied("The inbox is for clinicians, administrators and owners; your role does not include it.")
