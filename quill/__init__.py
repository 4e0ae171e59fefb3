"""Quill: a clinical document store."""

from quill.celery import app as celery_app

__all__ = ["celery_app"]
