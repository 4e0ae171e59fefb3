"""WebP previews of documents and profile photos."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from apps.documents.errors import QuillError
from apps.files.rendering import (
    PAGE_MAX_PIXELS,
    WEBP_MAX_SIDE,
    avatar,
    make_thumbnail,
    page_facts,
    render_page_image,
    resize_photo,
)
from tests.documents import samples


def _write(tmp_path: Path, data: bytes, name: str = "upload") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _decode_webp(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=["WEBP"])
    image.load()
    return image


@pytest.mark.parametrize(
    ("make", "content_type", "max_side", "expected_size"),
    [
        # 640x480 with EXIF orientation 6 (rotate 90° to display): the thumbnail is portrait
        pytest.param(samples.jpeg, "image/jpeg", 320, (240, 320), id="jpeg-exif-rotated"),
        pytest.param(lambda: samples.jpeg(orientation=None), "image/jpeg", 320, (320, 240), id="jpeg-upright"),
        pytest.param(samples.png, "image/png", 320, (320, 240), id="png-rgba"),
        pytest.param(lambda: samples.png(mode="P"), "image/png", 100, (100, 75), id="png-palette"),
        pytest.param(lambda: samples.png(mode="L"), "image/png", 100, (100, 75), id="png-greyscale"),
        pytest.param(samples.tiff, "image/tiff", 320, (229, 320), id="tiff"),
        pytest.param(lambda: samples.tiff(sixteen_bit=True), "image/tiff", 320, (229, 320), id="tiff-16-bit"),
        pytest.param(lambda: samples.pdf(3), "application/pdf", 320, (226, 320), id="pdf-first-page-a4"),
        pytest.param(lambda: samples.png(100, 50), "image/png", 320, (100, 50), id="small-image-not-enlarged"),
    ],
)
def test_make_thumbnail_is_webp_within_max_side(
    make: Callable[[], bytes], content_type: str, max_side: int, expected_size: tuple[int, int], tmp_path
) -> None:
    # given a stored document file
    path = _write(tmp_path, make())
    # when
    thumbnail = make_thumbnail(path, content_type, max_side=max_side)
    # then it decodes as WebP, at the expected size, never larger than max_side
    image = _decode_webp(thumbnail)
    assert image.format == "WEBP"
    assert abs(image.width - expected_size[0]) <= 1 and abs(image.height - expected_size[1]) <= 1
    assert max(image.size) <= max_side


def test_jpeg_thumbnail_follows_exif_orientation(tmp_path) -> None:
    # given a landscape photo with a red block top-left, tagged "rotate 90° clockwise to display"
    path = _write(tmp_path, samples.jpeg(orientation=6))
    # when
    image = _decode_webp(make_thumbnail(path, "image/jpeg")).convert("RGB")
    # then the red block is now top-right, as the clinician saw it on the phone
    red, green, blue = image.getpixel((image.width - 10, 10))
    assert red > 150 and green < 100 and blue < 100
    assert image.getpixel((10, 10))[0] > 200 and image.getpixel((10, 10))[1] > 200


def test_sixteen_bit_tiff_is_stretched_not_clipped(tmp_path) -> None:
    # given a 16-bit greyscale gradient (values up to ~51000)
    path = _write(tmp_path, samples.tiff(sixteen_bit=True))
    # when
    image = _decode_webp(make_thumbnail(path, "image/tiff")).convert("L")
    # then the full grey range survives instead of everything above 255 turning white
    low, high = image.getextrema()
    assert low < 30 and high > 225


@pytest.mark.parametrize(
    ("make", "content_type"),
    [
        pytest.param(samples.dicom, "application/dicom", id="dicom-has-no-preview"),
        pytest.param(samples.random_binary, "application/octet-stream", id="unknown-type"),
        pytest.param(samples.truncated_pdf, "application/pdf", id="truncated-pdf"),
        pytest.param(samples.encrypted_pdf, "application/pdf", id="encrypted-pdf"),
        pytest.param(samples.pdf, "image/png", id="pdf-claimed-as-png"),
        pytest.param(samples.truncated_png, "image/png", id="truncated-png"),
        pytest.param(samples.pixel_bomb_png, "image/png", id="pixel-bomb"),
    ],
)
def test_make_thumbnail_refuses_with_a_typed_error(make: Callable[[], bytes], content_type: str, tmp_path) -> None:
    path = _write(tmp_path, make())
    with pytest.raises(QuillError) as failure:
        make_thumbnail(path, content_type)
    assert (failure.value.error_code, failure.value.http_status) == ("thumbnail_failed", 500)


def test_resize_photo_fits_and_strips_exif(tmp_path) -> None:
    # given a phone photo carrying EXIF
    path = _write(tmp_path, samples.jpeg(1600, 1200, orientation=6))
    # when
    image = _decode_webp(resize_photo(path, max_side=512))
    # then it is upright, fits 512, and carries no EXIF (no GPS leaks into profile photos)
    assert image.size == (384, 512)
    assert not image.getexif()


@pytest.mark.parametrize("side", [pytest.param(64, id="default"), pytest.param(128, id="large")])
def test_avatar_is_a_square_crop(side: int, tmp_path) -> None:
    path = _write(tmp_path, samples.png(400, 300))
    image = _decode_webp(avatar(path, side=side))
    assert image.size == (side, side)


def test_photos_only_accept_photo_formats(tmp_path) -> None:
    path = _write(tmp_path, samples.pdf())
    with pytest.raises(QuillError) as failure:
        avatar(path)
    assert failure.value.error_code == "thumbnail_failed"


# --- the viewer's pages ----------------------------------------------------------------------------


def _written(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("width", [240, 1000, 3200], ids=["thumb", "standard", "xlarge"])
def test_a_pdf_page_is_rendered_at_the_width_asked_with_its_facts(width: int, tmp_path) -> None:
    path = _written(tmp_path, "letter.pdf", samples.pdf(3))

    rendered = render_page_image(path, "application/pdf", 2, width=width)

    assert (rendered.width, rendered.page_count) == (width, 3)
    assert (round(rendered.page_width, 2), round(rendered.page_height, 2)) == (595.28, 841.89)
    with Image.open(io.BytesIO(rendered.data)) as image:
        assert image.format == "WEBP" and image.size == (rendered.width, rendered.height)
    assert page_facts(path, "application/pdf", 2) == (3, rendered.page_width, rendered.page_height)


def test_a_very_long_page_is_drawn_within_the_pixel_budget(tmp_path) -> None:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    scroll = canvas.Canvas(buffer, pagesize=(595, 595 * 40))
    scroll.drawString(72, 100, "a long scroll")
    scroll.save()
    path = _written(tmp_path, "scroll.pdf", buffer.getvalue())

    rendered = render_page_image(path, "application/pdf", 1, width=3200)

    assert rendered.width * rendered.height <= PAGE_MAX_PIXELS and rendered.height <= WEBP_MAX_SIDE


def test_pages_render_safely_from_many_threads_at_once(tmp_path) -> None:
    """pdfium is not thread-safe and gunicorn runs threads: without the lock this crashes the process."""
    from concurrent.futures import ThreadPoolExecutor

    path = _written(tmp_path, "report.pdf", samples.pdf(4))
    # 200 jobs: without the lock this crashed 3 runs of 3
    jobs = [(page, width) for page in (1, 2, 3, 4) for width in (240, 600)] * 25

    def job(page_and_width: tuple[int, int]) -> tuple[int, int]:
        page, width = page_and_width
        count, _, _ = page_facts(path, "application/pdf", page)
        return render_page_image(path, "application/pdf", page, width=width).width, count

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, jobs))

    assert results == [(width, 4) for _, width in jobs]
