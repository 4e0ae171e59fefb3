"""Record a patient's erasure request and decide it against retention and legal holds.

    manage.py record_erasure_request --patient ID --reason "..." [--requested-by "the patient"]
                                     [--recorded-by EMAIL] [--received YYYY-MM-DD]

Refused (with the reason and when retention ends) while any of the patient's
documents is within retention or under a legal hold; otherwise accepted, and the next
`purge_expired --confirm` removes the documents. Either way the request is recorded and
audited (`patient.erasure_requested`) and the command exits 0; the decision is printed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from django.core.management.base import CommandParser
from django.utils import timezone

from apps.accounts.models import User
from apps.documents.models import ErasureDecision
from apps.documents.services.retention import erasure_request_record
from apps.patients.models import Patient
from quill.commands import QuillCommand, Unable
from quill.errors import QuillError


class Command(QuillCommand):
    help = "Record a patient's erasure request; refused while retention or a legal hold applies."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patient", required=True, metavar="ID", help="the patient's id (UUID)")
        parser.add_argument("--reason", required=True, help="the reason the request gives")
        parser.add_argument("--requested-by", default="the patient", help="who asked (default: the patient)")
        parser.add_argument("--recorded-by", metavar="EMAIL", help="the staff member recording it")
        parser.add_argument("--received", metavar="YYYY-MM-DD", help="when the request arrived (default: now)")

    def run(
        self, *, patient: str, reason: str, requested_by: str, recorded_by: str | None, received: str | None, **options
    ) -> None:
        try:
            record = Patient.objects.get(pk=uuid.UUID(patient))
        except (ValueError, Patient.DoesNotExist):
            raise Unable(f"No patient has id {patient!r}.") from None
        staff = None
        if recorded_by:
            staff = User.objects.filter(email=recorded_by.strip().lower()).first()
            if staff is None:
                raise Unable(f"No user has the email {recorded_by!r}.")
        received_at = None
        if received:
            try:
                received_at = timezone.make_aware(datetime.combine(date.fromisoformat(received), time(12)))
            except ValueError:
                raise Unable(f"--received must be a date such as 2025-03-31, not {received!r}.") from None
        try:
            request = erasure_request_record(
                patient=record, requested_by=requested_by, reason=reason, actor=staff, received_at=received_at
            )
        except QuillError as exc:
            raise Unable(str(exc)) from exc
        self.stdout.write(f"Erasure request {request.pk} for patient {record.pk}: {request.decision.upper()}")
        self.stdout.write(f"  {request.decision_reason}")
        refused = request.decision == ErasureDecision.REFUSED
        self.summary(
            f"Erasure request {'refused' if refused else 'accepted'}"
            + (f"; retention ends {request.retention_ends.isoformat()}" if request.retention_ends else "")
            + "."
        )
