"""An inbox item's pages as images for the document viewer (the same viewer as a document's page).

Rendered on each request and not stored: an item is looked at by a person or two before it is
filed, and the browser keeps what it was sent (the view's ETag names the item's bytes, which
never change). Authorisation, availability and the audit event are the view's.
"""

from __future__ import annotations

from apps.files.rendering import RenderedPage, render_page_image
from apps.inbox.models import InboxItem
from apps.inbox.services.preparation import local_copy


def inbox_page_image(*, item: InboxItem, page: int, width: int) -> RenderedPage:
    """Page `page` of the item as WebP `width` px wide; ThumbnailError when there is no such page."""
    with local_copy(item.storage_key) as path:
        return render_page_image(path, item.content_type, page, width=width)
