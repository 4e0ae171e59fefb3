#!/bin/sh
# One image, several roles: web | worker | beat | migrate | manage <command> [args...]
set -eu

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
    web)
        exec gunicorn quill.wsgi:application --config /app/docker/gunicorn.conf.py "$@"
        ;;
    worker)
        # acks_late + reject_on_worker_lost (settings): a task killed mid-way is redelivered.
        exec celery -A quill worker --loglevel "${CELERY_LOG_LEVEL:-info}" \
            --concurrency "${WORKER_CONCURRENCY:-2}" --max-tasks-per-child "${WORKER_MAX_TASKS_PER_CHILD:-200}" \
            --without-gossip --without-mingle "$@"
        ;;
    beat)
        # Exactly one beat per installation: it only queues the periodic sweeps.
        exec celery -A quill beat --loglevel "${CELERY_LOG_LEVEL:-info}" \
            --schedule /app/var/celerybeat-schedule "$@"
        ;;
    intake)
        # Watched folders and IMAP mailboxes into the inbox (docs/intake.md); stops between files on SIGTERM.
        exec python manage.py run_intake "$@"
        ;;
    migrate)
        # The one-shot step every start (and every upgrade) runs before web, worker and beat.
        python manage.py migrate --noinput
        python docker/ensure_bucket.py
        python manage.py check --deploy
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
