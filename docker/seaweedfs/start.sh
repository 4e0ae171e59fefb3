#!/bin/sh
# The `s3` service: one SeaweedFS node (master, volume, filer, S3 gateway) whose S3 API
# accepts only Quill's key pair (SigV4), written to an identities file from the secret files
# S3_ACCESS_KEY_ID_FILE and S3_SECRET_ACCESS_KEY_FILE (or the variables without _FILE).
set -eu

if [ -n "${S3_ACCESS_KEY_ID_FILE:-}" ]; then S3_ACCESS_KEY_ID="$(cat "$S3_ACCESS_KEY_ID_FILE")"; fi
if [ -n "${S3_SECRET_ACCESS_KEY_FILE:-}" ]; then S3_SECRET_ACCESS_KEY="$(cat "$S3_SECRET_ACCESS_KEY_FILE")"; fi
: "${S3_ACCESS_KEY_ID:?put the access key id in secrets/s3_access_key_id}"
: "${S3_SECRET_ACCESS_KEY:?put the secret key in secrets/s3_secret_access_key}"

# SSE-S3: objects are encrypted with per-object keys wrapped by this key-encryption key,
# given by the operator (S3_SSE_KEK, or a file in S3_SSE_KEK_FILE) so that it never lies on
# the data volume. Without it weed would generate one and keep it beside the data.
if [ -n "${S3_SSE_KEK_FILE:-}" ]; then
    S3_SSE_KEK="$(cat "$S3_SSE_KEK_FILE")"
fi
: "${S3_SSE_KEK:?set S3_SSE_KEK in .env: 64 hex digits (docs/security.md, Encryption at rest)}"
case "$S3_SSE_KEK" in
    *[!0-9a-f]*) echo "S3_SSE_KEK must be 64 lower-case hex digits" >&2; exit 1 ;;
esac
if [ "${#S3_SSE_KEK}" -ne 64 ]; then
    echo "S3_SSE_KEK must be 64 lower-case hex digits" >&2
    exit 1
fi
export WEED_S3_SSE_KEK="$S3_SSE_KEK"
unset S3_SSE_KEK

config_dir="${S3_CONFIG_DIR:-/tmp/seaweedfs}"
data_dir="${S3_DATA_DIR:-/data}"
mkdir -p "$config_dir" "$data_dir"
umask 077
cat > "$config_dir/s3.json" <<JSON
{
  "identities": [
    {
      "name": "quill",
      "credentials": [{"accessKey": "${S3_ACCESS_KEY_ID}", "secretKey": "${S3_SECRET_ACCESS_KEY}"}],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
JSON

exec "${WEED:-weed}" server \
    -dir="$data_dir" \
    -ip="${S3_ADVERTISE_IP:-s3}" \
    -ip.bind=0.0.0.0 \
    -master.volumeSizeLimitMB="${S3_VOLUME_SIZE_LIMIT_MB:-1024}" \
    -master.telemetry=false \
    -volume.max=0 \
    -filer \
    -s3 \
    -s3.port="${S3_PORT:-8333}" \
    -s3.config="$config_dir/s3.json" \
    -s3.allowDeleteBucketNotEmpty=false \
    "$@"
