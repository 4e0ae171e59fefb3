"""A Django upload handler that spools, hashes and size-limits files while the body is parsed.

With it, an upload's bytes are read from the socket once: each multipart chunk is
hashed (SHA-256, SHA-1), written to a temp file and counted against
``settings.QUILL_MAX_UPLOAD_BYTES`` (default 100 MiB) as it arrives.

How a view uses it
------------------
Upload handlers must be swapped in before anything reads ``request.POST`` or
``request.FILES``. ``CsrfViewMiddleware`` reads ``request.POST`` (for the form
token) before the view runs, so a portal view is ``csrf_exempt`` on the outside
and ``csrf_protect`` on the inside (the pattern from Django's "Modifying upload
handlers on the fly")::

    @csrf_exempt
    def document_upload_view(request):
        request.upload_handlers = [HashingUploadHandler(request)]
        return _document_upload_view(request)

    @csrf_protect
    def _document_upload_view(request):
        files = request.FILES.getlist("file")   # parsing happens here, once
        handler = request.upload_handlers[0]
        handler.raise_for_refusal()             # FileTooLarge -> 413, nothing kept
        for upload in files:
            upload.spooled                      # SpooledFile: path, size, sha256, sha1, head
        ...

In DRF, set ``request.upload_handlers`` in ``initial()`` *before* calling
``super().initial()``: ``SessionAuthentication``'s CSRF check reads
``request.POST`` and would otherwise parse the body with the default handlers.

Refusal semantics (Django's ``MultiPartParser``): on passing the limit the
handler removes the partial temp file, records the refusal and raises
``StopUpload(connection_reset=False)``. Django then stops handing out chunks,
reads and drops the rest of the body (so the client is still listening when the
413 is sent, instead of seeing a connection reset) and calls
``upload_complete()``, where this handler discards every file it already
spooled in the same request (bulk upload is all-or-nothing). Put a body-size
limit in the reverse proxy a little above the largest batch you accept, since
Django drains the remainder of an oversized body.

Each returned :class:`SpooledUploadedFile` owns its temp file: ``close()``
discards it, and Django closes every file in ``request.FILES`` when the
response is finished, so nothing outlives the request unless a caller copies it.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from apps.files.errors import FileTooLarge
from apps.files.spooling import CHUNK_SIZE, SpooledFile, Spooler

DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024


def configured_max_upload_bytes() -> int:
    """``settings.QUILL_MAX_UPLOAD_BYTES``, read at call time (default 100 MiB)."""
    from django.conf import settings

    return int(getattr(settings, "QUILL_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


class SpooledUploadedFile(UploadedFile):
    """An uploaded file already on local disk, with its hashes in ``.spooled``."""

    def __init__(
        self,
        spooled: SpooledFile,
        *,
        name: str | None,
        content_type: str | None,
        charset: str | None = None,
        content_type_extra: dict[str, Any] | None = None,
    ) -> None:
        self.spooled = spooled
        super().__init__(
            file=spooled.open(),
            name=name,
            content_type=content_type,
            size=spooled.size,
            charset=charset,
            content_type_extra=content_type_extra,
        )

    def temporary_file_path(self) -> str:
        return self.spooled.path

    def close(self) -> None:
        """Close the reader and remove the temp file (Django calls this at the end of the request)."""
        try:
            super().close()
        finally:
            self.spooled.discard()


class HashingUploadHandler(FileUploadHandler):
    """Spool + hash + size limit in one pass as Django parses a multipart body."""

    chunk_size = CHUNK_SIZE

    def __init__(self, request: Any = None, *, max_bytes: int | None = None, tmp_dir: str | None = None) -> None:
        super().__init__(request)
        self._max_bytes = max_bytes
        self.tmp_dir = tmp_dir
        self.refusal: FileTooLarge | None = None
        self.uploads: list[SpooledUploadedFile] = []
        self._spooler: Spooler | None = None

    @property
    def max_bytes(self) -> int:
        if self._max_bytes is None:
            self._max_bytes = configured_max_upload_bytes()
        return self._max_bytes

    def raise_for_refusal(self) -> None:
        """Raise the recorded :class:`FileTooLarge`, if any file passed the limit."""
        if self.refusal is not None:
            raise self.refusal

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self._abort_current()
        self._spooler = Spooler(max_bytes=self.max_bytes, tmp_dir=self.tmp_dir, filename=file_name)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        assert self._spooler is not None, "receive_data_chunk() before new_file()"
        try:
            self._spooler.write(raw_data)
        except FileTooLarge as refusal:
            # The spooler has already removed the partial file.
            self._spooler = None
            self.refusal = refusal
            raise StopUpload(connection_reset=False) from refusal
        # Returning None: the chunk is consumed, no later handler sees it.

    def file_complete(self, file_size: int) -> SpooledUploadedFile | None:
        if self._spooler is None:
            return None
        spooled = self._spooler.finish()
        self._spooler = None
        upload = SpooledUploadedFile(
            spooled,
            name=self.file_name,
            content_type=self.content_type,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
        self.uploads.append(upload)
        return upload

    def upload_interrupted(self) -> None:
        """The body ended mid-file (client went away): drop the partial file."""
        self._abort_current()

    def upload_complete(self) -> None:
        self._abort_current()
        if self.refusal is not None:
            # The whole request will be refused: keep none of its files.
            for upload in self.uploads:
                upload.close()

    def _abort_current(self) -> None:
        if self._spooler is not None:
            self._spooler.abort()
            self._spooler = None
