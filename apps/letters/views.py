"""Portal pages for letters. Thin: parse, call a selector or service, render."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.files.errors import ThumbnailError
from apps.letters.errors import LetterFinal, LetterIncomplete, LetterInvalid
from apps.letters.formatting import body_html
from apps.letters.forms import LetterForm
from apps.letters.models import Letter, LetterStatus
from apps.letters.preview import (
    PAGE_WIDTH,
    letter_page_count,
    letter_preview_etag,
    letter_preview_page,
    preview_signer,
)
from apps.letters.selectors import (
    letter_amendments,
    letter_get_for,
    letter_latest_push,
    letter_patient_for,
    letters_for_patient,
)
from apps.letters.services import (
    EDITABLE_FIELDS,
    letter_amend,
    letter_create,
    letter_finalise,
    letter_mark_viewed,
    letter_update,
    letters_mark_listed,
)
from quill.errors import Conflict, NotFound, QuillError
from quill.portal import refusals_as_pages as portal_refusals
from quill.types import AuthenticatedHttpRequest

refusals_as_pages = portal_refusals(not_found="There is no such letter or patient, or it is not yours to see.")


def _portal(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return never_cache(login_required(refusals_as_pages(view)))


def _portal_revalidated(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like `_portal`, for images a browser may keep but must ask about each time: the view sets
    `private, no-cache` on its 200 and 304; anything else (refusals, sign-in redirects) is never stored."""
    inner = login_required(refusals_as_pages(view))

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = inner(request, *args, **kwargs)
        if response.status_code not in (200, 304):
            add_never_cache_headers(response)
        return response

    return wrapper


def _apply(form: LetterForm, refusal: LetterInvalid | LetterIncomplete) -> None:
    for name, message in refusal.fields.items():
        form.add_error(name if name in form.fields else None, message)


@_portal
@require_http_methods(["GET"])
def patient_letters(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    patient = letter_patient_for(user=request.user, patient_id=patient_id, attempted="letter.list")
    letters_mark_listed(actor=request.user, patient=patient, channel="portal")
    context = {
        "patient": patient,
        "letters": letters_for_patient(patient=patient),
        "can_write": request.user.has_role("clinician"),
    }
    return render(request, "letters/list.html", context)


@_portal
@require_http_methods(["GET", "POST"])
def letter_new(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    patient = letter_patient_for(user=request.user, patient_id=patient_id, attempted="letter.create", write=True)
    form = LetterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            letter = letter_create(actor=request.user, patient=patient, **form.cleaned_data)
        except LetterInvalid as refusal:
            _apply(form, refusal)
        else:
            messages.success(request, "Draft saved.")
            return _after_save(request, letter)
    status = 400 if form.errors else 200
    context = {"patient": patient, "form": form, "letter": None, "may_finalise": request.user.has_role("clinician")}
    return render(request, "letters/edit.html", context, status=status)


def _after_save(request: AuthenticatedHttpRequest, letter: Letter) -> HttpResponse:
    if request.POST.get("then") == "preview":
        return redirect("letters:detail", letter_id=letter.pk)
    if request.POST.get("then") == "finalise":
        return redirect("letters:finalise", letter_id=letter.pk)
    return redirect("letters:edit", letter_id=letter.pk)


@_portal
@require_http_methods(["GET", "POST"])
def letter_edit(request: AuthenticatedHttpRequest, letter_id: str) -> HttpResponse:
    letter = letter_get_for(user=request.user, letter_id=letter_id, attempted="letter.update")
    if letter.status != LetterStatus.DRAFT:
        messages.info(request, "This letter is final and can no longer be edited; write an amendment to correct it.")
        return redirect("letters:detail", letter_id=letter.pk)
    if request.method == "POST":
        form = LetterForm(request.POST)
        if form.is_valid():
            try:
                letter = letter_update(actor=request.user, letter=letter, **form.cleaned_data)
            except LetterInvalid as refusal:
                _apply(form, refusal)
            except LetterFinal as refusal:
                messages.error(request, refusal.message)
                return redirect("letters:detail", letter_id=letter.pk)
            else:
                messages.success(request, "Draft saved.")
                return _after_save(request, letter)
    else:
        letter_mark_viewed(actor=request.user, letter=letter, channel="portal")
        form = LetterForm(initial={name: getattr(letter, name) for name in EDITABLE_FIELDS})
    status = 400 if form.errors else 200
    context = {
        "patient": letter.patient,
        "form": form,
        "letter": letter,
        "may_finalise": request.user.has_role("clinician"),
    }
    return render(request, "letters/edit.html", context, status=status)


@_portal
@require_http_methods(["GET"])
def letter_detail(request: AuthenticatedHttpRequest, letter_id: str) -> HttpResponse:
    letter = letter_get_for(user=request.user, letter_id=letter_id)
    letter_mark_viewed(actor=request.user, letter=letter, channel="portal")
    return render(request, "letters/detail.html", _detail_context(request, letter))


def _detail_context(request: AuthenticatedHttpRequest, letter: Letter) -> dict[str, Any]:
    push = letter_latest_push(letter=letter)
    amendments = list(letter_amendments(letter=letter))
    try:
        page_count = letter_page_count(letter, signer=preview_signer(letter, request.user))
        preview_problem = ""
    except QuillError as refusal:  # a final letter's PDF still being checked for viruses, say
        page_count, preview_problem = 0, refusal.message
    return {
        "pages": range(1, page_count + 1),
        "page_width": PAGE_WIDTH,
        "preview_problem": preview_problem,
        "patient": letter.patient,
        "letter": letter,
        "body_html": body_html(letter.body),
        "amendments": amendments,
        "corrected_by": next((amendment for amendment in amendments if amendment.status == LetterStatus.FINAL), None),
        "push": push,
        "is_clinician": request.user.has_role("clinician"),
    }


@_portal_revalidated
@require_http_methods(["GET"])
def letter_preview_page_view(request: AuthenticatedHttpRequest, letter_id: str, page: int) -> HttpResponse:
    """One page of the letter's PDF as WebP (the letter page's preview; reading it is audited there).

    Private and revalidated (`no-cache` with an ETag naming the content): a browser that has
    the page answers 304 without anything being rendered or read.
    """
    letter = letter_get_for(user=request.user, letter_id=letter_id)
    signer = preview_signer(letter, request.user)
    etag = letter_preview_etag(letter, page, signer=signer)
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        try:
            image = letter_preview_page(letter, page, signer=signer)
        except (ThumbnailError, FileNotFoundError) as exc:  # no such page; the sealed PDF's bytes gone
            raise NotFound() from exc
        response = HttpResponse(image.data, content_type="image/webp")
        response["Content-Security-Policy"] = "default-src 'none'"
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@_portal
@require_http_methods(["GET", "POST"])
def letter_finalise_view(request: AuthenticatedHttpRequest, letter_id: str) -> HttpResponse:
    letter = letter_get_for(user=request.user, letter_id=letter_id, attempted="letter.finalise")
    if letter.status != LetterStatus.DRAFT:
        messages.info(request, "This letter is already final.")
        return redirect("letters:detail", letter_id=letter.pk)
    problems: dict[str, str] = {}
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            problems = {"confirm": "Tick the box to confirm the letter is ready to be finalised."}
        else:
            try:
                letter = letter_finalise(actor=request.user, letter=letter)
            except LetterIncomplete as refusal:
                problems = refusal.fields
            except Conflict as refusal:
                messages.error(request, refusal.message)
                return redirect("letters:detail", letter_id=letter.pk)
            else:
                messages.success(request, "The letter is final. Its PDF is stored with the patient's documents.")
                return redirect("letters:detail", letter_id=letter.pk)
    context = {**_detail_context(request, letter), "problems": problems}
    return render(request, "letters/finalise.html", context, status=400 if problems else 200)


@_portal
@require_POST
def letter_amend_view(request: AuthenticatedHttpRequest, letter_id: str) -> HttpResponse:
    letter = letter_get_for(user=request.user, letter_id=letter_id, attempted="letter.amend")
    try:
        draft = letter_amend(actor=request.user, letter=letter)
    except Conflict as refusal:
        messages.error(request, refusal.message)
        return redirect("letters:detail", letter_id=letter.pk)
    messages.success(request, "A draft amendment has been started from the final letter.")
    return redirect(reverse("letters:edit", kwargs={"letter_id": draft.pk}))
