import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from quill.slow_clients import cut_off_slow_bodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")
application = cut_off_slow_bodies(get_wsgi_application(), seconds=settings.QUILL_CLIENT_BODY_TIMEOUT_SECONDS)
