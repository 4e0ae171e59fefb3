"""The registry of audit actions: every action Quill records, with the label people read.

``AuditEvent.action`` stores the value (``"document.viewed"``). Code names an action only
through ``Action`` (a ``StrEnum``, so it is the stored string); ``audit_record`` refuses any
other value, and a test fails on an action string written anywhere else. The access report
and the document activity table show ``action_label``.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # sign-in and accounts
    AUTH_LOGIN_SUCCEEDED = "auth.login.succeeded"
    AUTH_LOGIN_FAILED = "auth.login.failed"
    AUTH_LOCKOUT = "auth.lockout"
    AUTH_LOGOUT = "auth.logout"
    AUTH_SIGN_OUT_EVERYWHERE = "auth.sign_out_everywhere"
    AUTH_TOTP_ENROLLED = "auth.totp.enrolled"
    AUTH_TOTP_VERIFIED = "auth.totp.verified"
    AUTH_TOTP_FAILED = "auth.totp.failed"
    TOKEN_CREATED = "token.created"  # noqa: S105 (an action name, not a secret)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105
    USER_CREATED = "user.created"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105
    USER_PHOTO_CHANGED = "user.photo_changed"
    USER_PHOTO_REMOVED = "user.photo_removed"
    ADMIN_CHANGE = "admin.change"
    # refusals
    ACCESS_DENIED = "access.denied"
    # patients
    PATIENT_CREATED = "patient.created"
    PATIENT_UPDATED = "patient.updated"
    PATIENT_VIEWED = "patient.viewed"
    PATIENT_SEARCHED = "patient.searched"
    PATIENT_BREAK_GLASS = "patient.break_glass"
    PATIENT_CARE_TEAM_ADDED = "patient.care_team.added"
    PATIENT_CARE_TEAM_REMOVED = "patient.care_team.removed"
    PATIENT_ACCESS_REPORT_VIEWED = "patient.access_report.viewed"
    PATIENT_ACCESS_REPORT_EXPORTED = "patient.access_report.exported"
    PATIENT_PHOTO_CHANGED = "patient.photo_changed"
    PATIENT_PHOTO_REMOVED = "patient.photo_removed"
    PATIENT_PHOTO_VIEWED = "patient.photo_viewed"
    PATIENT_ERASURE_REQUESTED = "patient.erasure_requested"
    PATIENT_ERASURE_COMPLETED = "patient.erasure_completed"
    # documents
    DOCUMENT_UPLOADED = "document.uploaded"
    DOCUMENT_VERSION_ADDED = "document.version_added"
    DOCUMENT_SCANNED = "document.scanned"
    DOCUMENT_QUARANTINED = "document.quarantined"
    DOCUMENT_RESCAN_REQUESTED = "document.rescan_requested"
    DOCUMENT_INTEGRITY_FAILED = "document.integrity_failed"
    DOCUMENT_LISTED = "document.listed"
    DOCUMENT_VIEWED = "document.viewed"
    DOCUMENT_DOWNLOADED = "document.downloaded"
    DOCUMENT_PREVIEWED = "document.previewed"
    DOCUMENT_VERSIONS_VIEWED = "document.versions_viewed"
    DOCUMENT_URL_ISSUED = "document.url_issued"
    DOCUMENT_LINK_USED = "document.link_used"
    DOCUMENT_UPDATED = "document.updated"
    DOCUMENT_DELETED = "document.deleted"
    DOCUMENT_RESTORED = "document.restored"
    DOCUMENT_LEGAL_HOLD_PLACED = "document.legal_hold_placed"
    DOCUMENT_LEGAL_HOLD_LIFTED = "document.legal_hold_lifted"
    DOCUMENT_PURGED = "document.purged"
    DOCUMENT_DELETED_LISTED = "document.deleted_listed"
    DOCUMENT_QUARANTINE_LISTED = "document.quarantine_listed"
    DOCUMENT_TEXT_EXTRACTED = "document.text_extracted"
    DOCUMENT_TEXT_FAILED = "document.text_failed"
    DOCUMENT_SEARCHED = "document.searched"
    ANNOTATION_CREATED = "annotation.created"
    ANNOTATION_DELETED = "annotation.deleted"
    ANNOTATION_LISTED = "annotation.listed"
    # letters
    LETTER_CREATED = "letter.created"
    LETTER_UPDATED = "letter.updated"
    LETTER_VIEWED = "letter.viewed"
    LETTER_LISTED = "letter.listed"
    LETTER_FINALISED = "letter.finalised"
    # inbox
    INBOX_ITEM_RECEIVED = "inbox.item_received"
    INBOX_ITEM_REFUSED = "inbox.item_refused"
    INBOX_ITEM_DUPLICATE = "inbox.item_duplicate"
    INBOX_ITEM_SCANNED = "inbox.item_scanned"
    INBOX_ITEM_QUARANTINED = "inbox.item_quarantined"
    INBOX_LISTED = "inbox.listed"
    INBOX_ITEM_VIEWED = "inbox.item_viewed"
    INBOX_ITEM_FILED = "inbox.item_filed"
    INBOX_ITEM_REJECTED = "inbox.item_rejected"
    INBOX_ITEM_MARKED_DUPLICATE = "inbox.item_marked_duplicate"
    INBOX_ITEM_PURGED = "inbox.item_purged"
    INBOX_ITEM_MERGED = "inbox.item_merged"
    INBOX_ITEMS_MERGED = "inbox.items_merged"
    # clinical review
    REVIEW_ASSIGNED = "review.assigned"
    REVIEW_COMPLETED = "review.completed"
    REVIEW_FORWARDED = "review.forwarded"
    REVIEW_LISTED = "review.listed"
    # interoperability and operations
    FHIR_SEARCH = "fhir.search"
    FHIR_BUNDLE_RECEIVED = "fhir.bundle_received"
    FHIR_BUNDLE_REFUSED = "fhir.bundle_refused"
    FHIR_LIST_VIEWED = "fhir.list_viewed"
    OUTBOX_REQUEUED = "outbox.requeued"
    AUDIT_SEARCHED = "audit.searched"
    AUDIT_BREAK_GLASS_LISTED = "audit.break_glass_listed"


LABELS: dict[Action, str] = {
    Action.AUTH_LOGIN_SUCCEEDED: "Signed in",
    Action.AUTH_LOGIN_FAILED: "Failed to sign in",
    Action.AUTH_LOCKOUT: "Was locked out after repeated failed sign-ins",
    Action.AUTH_LOGOUT: "Signed out",
    Action.AUTH_SIGN_OUT_EVERYWHERE: "Signed out on every device",
    Action.AUTH_TOTP_ENROLLED: "Set up an authenticator app",
    Action.AUTH_TOTP_VERIFIED: "Entered a correct authenticator code",
    Action.AUTH_TOTP_FAILED: "Entered a wrong authenticator code",
    Action.TOKEN_CREATED: "Created an API token",
    Action.TOKEN_REVOKED: "Revoked an API token",
    Action.USER_CREATED: "Created a user account",
    Action.USER_PASSWORD_CHANGED: "Changed a password",
    Action.USER_PHOTO_CHANGED: "Changed a profile photo",
    Action.USER_PHOTO_REMOVED: "Removed a profile photo",
    Action.ADMIN_CHANGE: "Changed something in the admin",
    Action.ACCESS_DENIED: "Was refused access",
    Action.PATIENT_CREATED: "Created the record",
    Action.PATIENT_UPDATED: "Changed the record",
    Action.PATIENT_VIEWED: "Viewed the record",
    Action.PATIENT_SEARCHED: "Searched for patients",
    Action.PATIENT_BREAK_GLASS: "Broke the glass to open the restricted record",
    Action.PATIENT_CARE_TEAM_ADDED: "Added someone to the care team",
    Action.PATIENT_CARE_TEAM_REMOVED: "Removed someone from the care team",
    Action.PATIENT_ACCESS_REPORT_VIEWED: "Looked at this access report",
    Action.PATIENT_ACCESS_REPORT_EXPORTED: "Exported this access report",
    Action.PATIENT_PHOTO_CHANGED: "Changed the patient's photo",
    Action.PATIENT_PHOTO_REMOVED: "Removed the patient's photo",
    Action.PATIENT_PHOTO_VIEWED: "Viewed the patient's photo",
    Action.PATIENT_ERASURE_REQUESTED: "Recorded an erasure request",
    Action.PATIENT_ERASURE_COMPLETED: "Completed an erasure request",
    Action.DOCUMENT_UPLOADED: "Uploaded",
    Action.DOCUMENT_VERSION_ADDED: "Uploaded as a new version",
    Action.DOCUMENT_SCANNED: "Passed the virus check",
    Action.DOCUMENT_QUARANTINED: "Quarantined: virus found",
    Action.DOCUMENT_RESCAN_REQUESTED: "Asked for a new virus check",
    Action.DOCUMENT_INTEGRITY_FAILED: "Failed its integrity check",
    Action.DOCUMENT_LISTED: "Listed documents",
    Action.DOCUMENT_VIEWED: "Opened the document page",
    Action.DOCUMENT_DOWNLOADED: "Opened the file (download or preview)",
    Action.DOCUMENT_PREVIEWED: "Viewed a page preview",
    Action.DOCUMENT_VERSIONS_VIEWED: "Listed the versions",
    Action.DOCUMENT_URL_ISSUED: "Issued a download link",
    Action.DOCUMENT_LINK_USED: "Opened the file by a download link",
    Action.DOCUMENT_UPDATED: "Changed the details",
    Action.DOCUMENT_DELETED: "Deleted",
    Action.DOCUMENT_RESTORED: "Restored",
    Action.DOCUMENT_LEGAL_HOLD_PLACED: "Placed a legal hold",
    Action.DOCUMENT_LEGAL_HOLD_LIFTED: "Lifted a legal hold",
    Action.DOCUMENT_PURGED: "Removed for good under the retention policy",
    Action.DOCUMENT_DELETED_LISTED: "Listed the deleted documents",
    Action.DOCUMENT_QUARANTINE_LISTED: "Listed the quarantined documents",
    Action.DOCUMENT_TEXT_EXTRACTED: "Had its text read for search",
    Action.DOCUMENT_TEXT_FAILED: "Could not have its text read",
    Action.DOCUMENT_SEARCHED: "Searched the text of documents",
    Action.ANNOTATION_CREATED: "Added an annotation",
    Action.ANNOTATION_DELETED: "Deleted an annotation",
    Action.ANNOTATION_LISTED: "Listed the annotations",
    Action.LETTER_CREATED: "Started a letter",
    Action.LETTER_UPDATED: "Edited a letter",
    Action.LETTER_VIEWED: "Read a letter",
    Action.LETTER_LISTED: "Listed the letters",
    Action.LETTER_FINALISED: "Signed and finalised a letter",
    Action.INBOX_ITEM_RECEIVED: "Received a document into the inbox",
    Action.INBOX_ITEM_REFUSED: "Refused a document arriving in the inbox",
    Action.INBOX_ITEM_DUPLICATE: "Received a duplicate of a document already held",
    Action.INBOX_ITEM_SCANNED: "Inbox document passed the virus check",
    Action.INBOX_ITEM_QUARANTINED: "Inbox document quarantined: virus found",
    Action.INBOX_LISTED: "Listed the inbox",
    Action.INBOX_ITEM_VIEWED: "Opened an inbox document",
    Action.INBOX_ITEM_FILED: "Filed an inbox document to a patient",
    Action.INBOX_ITEM_REJECTED: "Rejected an inbox document",
    Action.INBOX_ITEM_MARKED_DUPLICATE: "Marked an inbox document as a duplicate",
    Action.INBOX_ITEM_PURGED: "Removed a rejected inbox document's bytes after its keep period",
    Action.INBOX_ITEM_MERGED: "Merged an inbox document into another (kept as received)",
    Action.INBOX_ITEMS_MERGED: "Made one inbox document by merging several",
    Action.REVIEW_ASSIGNED: "Assigned the document for clinical review",
    Action.REVIEW_COMPLETED: "Completed a clinical review of the document",
    Action.REVIEW_FORWARDED: "Forwarded a clinical review to a colleague",
    Action.REVIEW_LISTED: "Listed reviews",
    Action.FHIR_SEARCH: "Searched through FHIR",
    Action.FHIR_BUNDLE_RECEIVED: "Received documents through FHIR (MHD ITI-65)",
    Action.FHIR_BUNDLE_REFUSED: "Refused a FHIR document bundle (MHD ITI-65)",
    Action.FHIR_LIST_VIEWED: "Viewed a document submission through FHIR (MHD ITI-66)",
    Action.OUTBOX_REQUEUED: "Re-sent a message to another system",
    Action.AUDIT_SEARCHED: "Searched the audit log",
    Action.AUDIT_BREAK_GLASS_LISTED: "Reviewed the break-glass openings",
}


def action_label(action: str) -> str:
    """The label people read for a stored action (the raw value for an action no longer recorded)."""
    try:
        return LABELS[Action(action)]
    except ValueError:
        return action
