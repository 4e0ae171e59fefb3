"""The botocore client configuration for document storage on S3.

Bounded timeouts and few retries, so that an unreachable object store turns into
a quick 503 `storage_unavailable` instead of a request that hangs while boto3
retries.
"""

from __future__ import annotations

from botocore.config import Config


def s3_client_config(
    *,
    addressing_style: str = "path",
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    max_attempts: int = 3,
    client_cert: tuple[str, str] | None = None,
) -> Config:
    """`client_cert` (certificate, key) is presented to an S3 endpoint that asks for one (mutual TLS).

    Responses are not checksummed by botocore (`when_required`): a document's bytes are re-hashed with
    SHA-256 against its recorded digest on every download and by `verify_storage`, so botocore checking
    the object's stored checksum as well would hash each download twice."""
    return Config(
        response_checksum_validation="when_required",
        s3={"addressing_style": addressing_style},
        signature_version="s3v4",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        client_cert=client_cert,
    )
