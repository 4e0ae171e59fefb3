"""Create the documents bucket when it does not exist yet (run by the `migrate` step).

Idempotent: an existing bucket is left as it is. Nothing happens on filesystem storage.
"""

from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
django.setup()

from botocore.exceptions import ClientError  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.files.storage import storages  # noqa: E402


def main() -> int:
    if settings.QUILL_STORAGE != "s3":
        print("filesystem storage: no bucket needed")
        return 0
    storage = storages["documents"]
    client = storage.connection.meta.client
    try:
        client.head_bucket(Bucket=storage.bucket_name)
        print(f"bucket {storage.bucket_name} exists")
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        client.create_bucket(Bucket=storage.bucket_name)
        print(f"bucket {storage.bucket_name} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
