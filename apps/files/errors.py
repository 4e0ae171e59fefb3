"""Refusals of the byte layer: a file that cannot be accepted, a store that cannot be reached.

Every class carries a stable ``error_code`` for integrators, an ``http_status`` for the
API layer, and the facts behind the refusal in ``data`` (and as attributes where a
caller is likely to branch on them).
"""

from __future__ import annotations

from quill.errors import QuillError, ServiceUnavailable, ValidationFailed


def _human_size(size: int) -> str:
    """104857600 -> '100 MB' (binary units, as a computer's file browser shows them)."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{value:.0f} {unit}" if value.is_integer() else f"{value:.1f} {unit}"


class UploadRejected(ValidationFailed):
    """Base for every refusal of an uploaded file's bytes (bulk upload reports one per file)."""

    error_code = "upload_rejected"
    default_message = "This file cannot be accepted."


class FileTooLarge(UploadRejected):
    error_code = "file_too_large"
    http_status = 413

    def __init__(self, *, max_bytes: int, filename: str | None = None) -> None:
        self.max_bytes = max_bytes
        self.filename = filename
        super().__init__(
            f"This file is larger than Quill's upload limit of {_human_size(max_bytes)}. "
            "Split it into smaller documents or scan it at a lower resolution, then upload again.",
            max_bytes=max_bytes,
            filename=filename,
        )


class UnsupportedType(UploadRejected):
    error_code = "unsupported_type"
    http_status = 415
    default_message = (
        "Quill accepts PDF documents, JPEG, PNG and TIFF images, and DICOM files. "
        "This file is none of those, so it was not uploaded."
    )


class ExtensionMismatch(UploadRejected):
    error_code = "extension_mismatch"
    http_status = 415

    def __init__(self, *, filename: str, content_type: str, allowed: tuple[str, ...]) -> None:
        self.filename = filename
        self.content_type = content_type
        self.allowed = allowed
        endings = " or ".join(f".{ext}" for ext in allowed if ext) or "no extension"
        super().__init__(
            f"The name '{filename}' does not match what the file contains ({content_type}). "
            f"Rename it to end in {endings} if that is what it is, then upload again.",
            filename=filename,
            content_type=content_type,
            allowed=list(allowed),
        )


class EmptyFile(UploadRejected):
    error_code = "empty_file"
    default_message = "This file is empty (0 bytes). Check that you chose the right file and upload it again."


class CorruptFile(UploadRejected):
    error_code = "corrupt_file"
    default_message = (
        "This file is damaged or incomplete, so Quill cannot open it. "
        "Open it on your computer to check it, save a fresh copy and upload that."
    )


class EncryptedPdf(UploadRejected):
    error_code = "encrypted_pdf"
    default_message = (
        "This PDF is password-protected or encrypted, so Quill cannot check it or show it to colleagues. "
        "Save or print it as a new PDF without a password and upload that."
    )


class ActiveContent(UploadRejected):
    error_code = "active_content"

    def __init__(self, *, found: list[str] | tuple[str, ...]) -> None:
        self.found = sorted(set(found))
        listed = ", ".join(self.found)
        super().__init__(
            f"This file contains active content ({listed}), such as scripts, automatic actions or "
            "hidden attached files, which Quill does not accept for safety. "
            "Print it to a new PDF and upload that.",
            found=self.found,
        )


class ImageTooLarge(UploadRejected):
    error_code = "image_too_large"

    def __init__(self, *, width: int | None = None, height: int | None = None, max_pixels: int) -> None:
        self.width = width
        self.height = height
        self.max_pixels = max_pixels
        size = f" ({width} × {height} pixels)" if width and height else ""
        super().__init__(
            f"This image{size} has more pixels than Quill accepts ({max_pixels:,}). "
            "Save it at a smaller size or lower resolution and upload that.",
            width=width,
            height=height,
            max_pixels=max_pixels,
        )


class MissingFile(UploadRejected):
    error_code = "missing_file"
    default_message = "No file was attached. Choose a file and upload again."


class IncompleteBody(UploadRejected):
    error_code = "incomplete_upload"

    def __init__(self, *, expected: int, received: int) -> None:
        self.expected = expected
        self.received = received
        super().__init__(
            f"The upload ended after {received:,} of the {expected:,} bytes announced, so nothing was saved. "
            "Check the connection and upload the file again.",
            expected=expected,
            received=received,
        )


class DigestMismatch(UploadRejected):
    error_code = "digest_mismatch"

    def __init__(self, *, declared: str, received: str) -> None:
        self.declared = declared
        self.received = received
        super().__init__(
            "The file Quill received is not the file that was sent: its SHA-256 does not match the "
            "Repr-Digest header, so nothing was saved. Upload the file again.",
            declared=declared,
            received=received,
        )


class InvalidDigest(ValidationFailed):
    error_code = "invalid_digest"
    default_message = (
        "The Repr-Digest header could not be read. Send it as sha-256=:<base64 of the SHA-256>: "
        "(RFC 9530), or leave it out."
    )


class LengthRequired(ValidationFailed):
    error_code = "length_required"
    http_status = 411
    default_message = "Send the file's size in a Content-Length header (chunked uploads are not accepted here)."


class StorageUnavailable(ServiceUnavailable):
    error_code = "storage_unavailable"
    default_message = (
        "Quill's document storage is not reachable at the moment, so nothing was saved. "
        "Please try again in a few minutes."
    )


class ThumbnailError(QuillError):
    """A preview could not be made; the document itself is unaffected."""

    error_code = "thumbnail_failed"
    http_status = 500
    default_message = "Quill could not make a preview of this document. The document itself is unaffected."


class NotAPhoto(UploadRejected):
    error_code = "not_a_photo"
    http_status = 415
    default_message = "A profile photo must be a JPEG, PNG or WebP image. Choose a photo and try again."


class ScannerUnavailable(Exception):  # internal: the scan task retries; never reaches a client
    """clamd could not be reached or failed mid-scan; the scan is retried later."""


# --- Reading a document's text (apps/files/extraction.py) ------------------------------------------
# Never an HTTP refusal: the code and message are recorded on the document (`text_error_code`,
# `text_error`) and shown with it; http_status is what the registry requires of every class.


class TextNotRead(QuillError):
    """A document's text could not be read: terminal for this attempt (`reindex_text` tries again)."""

    error_code = "text_not_read"
    http_status = 422
    default_message = "Quill could not read the text of this document."


class OcrUnavailable(TextNotRead):
    error_code = "ocr_unavailable"
    default_message = "This is a scan, and OCR (Tesseract) is not available on this server to read it."


class TooManyPages(TextNotRead):
    error_code = "too_many_pages"

    def __init__(self, *, pages: int, max_pages: int) -> None:
        super().__init__(
            f"It has {pages:,} pages, more than the {max_pages:,} pages Quill reads the text of.",
            pages=pages,
            max_pages=max_pages,
        )


class TooManyPixels(TextNotRead):
    error_code = "too_many_pixels"

    def __init__(self, *, max_pixels: int, width: int | None = None, height: int | None = None) -> None:
        size = f" ({width:,} × {height:,})" if width and height else ""
        super().__init__(
            f"A page image{size} has more pixels than the {max_pixels:,} Quill reads the text of.",
            max_pixels=max_pixels,
        )


class TextTimeout(TextNotRead):
    error_code = "text_timeout"

    def __init__(self, *, seconds: float) -> None:
        super().__init__(f"Reading the text took longer than the limit of {seconds:.0f} seconds.", seconds=seconds)


class OcrFailed(TextNotRead):
    error_code = "ocr_failed"
    default_message = "OCR could not read this file."


class UnreadableForText(TextNotRead):
    error_code = "text_unreadable"
    default_message = "The file could not be opened to read its text."


class TextUnsupported(TextNotRead):
    error_code = "text_unsupported"
    default_message = "Quill reads the text of PDFs and images only."


class StoredFileMissing(TextNotRead):
    error_code = "stored_file_missing"
    default_message = "The stored file could not be found, so its text could not be read."
