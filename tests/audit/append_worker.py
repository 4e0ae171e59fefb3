"""Child process for the concurrency test: append audit events to one chain until the deadline.

Usage: python tests/audit/append_worker.py ORGANISATION_ID START_AT_EPOCH SECONDS WORKER_NAME
Prints how many events it appended. DATABASE_URL must point at the test database.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")

import django

django.setup()

from django.db import transaction  # noqa: E402

from apps.audit.services import audit_record  # noqa: E402


def main() -> None:
    organisation_id, start_at, seconds, worker = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    time.sleep(max(0.0, start_at - time.time()))  # start together
    deadline = time.monotonic() + seconds
    appended = 0
    while time.monotonic() < deadline:
        with transaction.atomic():
            audit_record(
                action="patient.viewed",
                organisation_id=organisation_id,
                object_type="worker",
                object_id=worker,
                details={"n": appended},
            )
        appended += 1
    print(appended)


if __name__ == "__main__":
    main()
