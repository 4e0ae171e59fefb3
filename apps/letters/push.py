"""The outbox handler that sends a finalised letter to EHRbase as a composition.

Sequence (docs/openehr.md): get or create the patient's EHR by subject; if the
letter already holds a composition uid, there is nothing to do; otherwise look
for a composition carrying the letter id (a previous attempt may have written
it and lost the answer), and only if there is none, POST a new composition — or,
for an amending letter, PUT a new version of the amended letter's composition
with If-Match of its version uid. Every uid learnt is stored on the letter at
once, inside the relay's transaction, so a retry starts from what is known.
"""

from __future__ import annotations

from django.conf import settings

from apps.letters.errors import EhrRejectedError, EhrRetryableError, FlatBuildError
from apps.letters.models import Letter, LetterStatus
from apps.letters.openehr.client import CompositionResult, EhrbaseClient
from apps.letters.openehr.flat import LetterComposition, build_flat
from apps.letters.openehr.template import TEMPLATE_ID
from apps.letters.selectors import letter_recipient_text
from apps.outbox.errors import RetryableDelivery, TerminalDelivery
from apps.outbox.models import OutboxMessage
from quill.oauth import OAuthRefused, oauth_config, token_source
from quill.tls import service_tls


def ehrbase_client() -> EhrbaseClient:
    tls = service_tls("ehrbase")
    try:
        tokens = token_source(oauth_config("ehrbase")) if settings.QUILL_EHRBASE_AUTH == "oauth2" else None
    except OAuthRefused as exc:
        raise TerminalDelivery(f"EHRbase OAuth2 is not configured correctly: {exc}") from exc
    return EhrbaseClient(
        settings.QUILL_EHRBASE_URL,
        username=settings.QUILL_EHRBASE_USERNAME,
        password=settings.QUILL_EHRBASE_PASSWORD,
        timeout=settings.QUILL_EHRBASE_TIMEOUT_SECONDS,
        token_source=tokens,
        verify=tls.verify,
        cert=tls.cert,
    )


def deliver_letter_composition(message: OutboxMessage) -> dict:
    """Outbox handler for (openehr, letter_composition); `message.object_id` is the letter id."""
    if not settings.QUILL_EHRBASE_URL:
        raise TerminalDelivery("QUILL_EHRBASE_URL is not set; configure it and run `manage.py resync_ehr --failed`.")
    letter = (
        Letter.objects.select_for_update(of=("self",))
        .select_related("author", "signed_by", "amends")
        .filter(pk=message.object_id)
        .first()
    )
    if letter is None:
        raise TerminalDelivery(f"Letter {message.object_id} does not exist.")
    if letter.status != LetterStatus.FINAL:
        raise TerminalDelivery("Only final letters are sent to the openEHR server.")
    try:
        return _push(ehrbase_client(), letter)
    except EhrRetryableError as exc:
        raise RetryableDelivery(exc.message, retry_after=exc.retry_after) from exc
    except EhrRejectedError as exc:
        raise TerminalDelivery(exc.message, response={"status": exc.status, "body": exc.body}) from exc
    except FlatBuildError as exc:
        raise TerminalDelivery(exc.message) from exc


def _push(client: EhrbaseClient, letter: Letter) -> dict:
    ehr_id = client.get_or_create_ehr(str(letter.patient_id), settings.QUILL_EHRBASE_SUBJECT_NAMESPACE)
    _remember(letter, ehr_id=ehr_id)
    if letter.composition_uid:
        return _outcome("already_sent", letter)
    preceding = _preceding_version(letter)
    found = client.find_composition_by_report_id(ehr_id, str(letter.pk), TEMPLATE_ID)
    if found is not None:
        _remember(letter, composition_uid=found.uid)
        return _outcome("recovered", letter)
    flat = build_flat(composition_of(letter, amends_composition_uid=preceding.uid if preceding else None))
    if preceding is None:
        result = client.post_composition(ehr_id, flat, TEMPLATE_ID)
        _remember(letter, composition_uid=result.uid)
        return _outcome("created", letter)
    result = client.put_composition(ehr_id, preceding.versioned_object_uid, preceding.uid, flat, TEMPLATE_ID)
    _remember(letter, composition_uid=result.uid)
    return _outcome("amended", letter)


def _preceding_version(letter: Letter) -> CompositionResult | None:
    """For an amendment, the amended letter's composition version; it must have been sent first."""
    if letter.amends_id is None:
        return None
    uid = Letter.objects.filter(pk=letter.amends_id).values_list("composition_uid", flat=True).first()
    if not uid:
        raise RetryableDelivery("The amended letter has not reached the openEHR server yet; waiting for it.")
    return CompositionResult(uid)


def composition_of(letter: Letter, *, amends_composition_uid: str | None = None) -> LetterComposition:
    return LetterComposition(
        letter_id=letter.pk,
        patient_id=str(letter.patient_id),
        subject=letter.subject,
        body=letter.body,
        recipient=letter_recipient_text(letter),
        author_name=letter.signatory.full_name or letter.signatory.email,
        clinical_time=letter.clinical_date,
        amends_composition_uid=amends_composition_uid,
    )


def _remember(letter: Letter, **fields: str) -> None:
    changed = [name for name, value in fields.items() if getattr(letter, name) != value]
    if changed:
        for name in changed:
            setattr(letter, name, fields[name])
        letter.save(update_fields=[*changed, "updated_at"])


def _outcome(outcome: str, letter: Letter) -> dict:
    return {"outcome": outcome, "ehr_id": letter.ehr_id, "composition_uid": letter.composition_uid}
