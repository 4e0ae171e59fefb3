#!/bin/sh
# Make the secret files docker-compose.yml mounts (compose `secrets:`), one random value per
# file in ./secrets, readable only by you. Existing files are kept, so running it again after
# an upgrade adds only the new ones. Rotate a secret by replacing its file and restarting the
# services that use it (docs/operations.md, "Secrets").
set -eu
cd "$(dirname "$0")/.."
umask 077
mkdir -p secrets
for name in django_secret_key postgres_password redis_password s3_secret_access_key \
    ehrbase_password ehrbase_admin_password ehrbase_db_password ehrbase_db_admin_password fhir_db_password; do
    if [ ! -s "secrets/$name" ]; then
        python3 -c "import secrets; print(secrets.token_urlsafe(48))" > "secrets/$name"
        echo "made secrets/$name"
    fi
done
# SSE-S3's key-encryption key for SeaweedFS: 64 hex digits. Keep a copy off this host with the
# backups: without it no stored document can be read (docs/security.md, Encryption at rest).
[ -s secrets/s3_sse_kek ] || { python3 -c "import secrets; print(secrets.token_hex(32))" > secrets/s3_sse_kek; echo "made secrets/s3_sse_kek"; }
# The access key id is a name, not a secret, but SeaweedFS and Quill read it from the same place.
[ -s secrets/s3_access_key_id ] || echo quill > secrets/s3_access_key_id
