"""Category suggestions: the organisation's keyword rules, and its own nightly-trained text classifier."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from apps.documents.models import Category, Document
from apps.documents.search.index import index_replace_pages
from apps.inbox.models import CategoryClassifier, CategoryRule, InboxItem
from apps.inbox.services.categories import (
    classifier_suggestion,
    retrain_classifier,
    suggest_categories,
    train_classifier,
)
from apps.inbox.services.preparation import inbox_prepare
from apps.inbox.tasks import retrain_category_classifiers
from tests import factories
from tests.documents.helpers import document_row
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db

LAB_WORDS = ["haemoglobin", "platelets", "sodium potassium", "creatinine", "white cell count", "ferritin"]
REFERRAL_WORDS = ["please see", "refer", "opinion", "kindly assess", "urgent referral", "two week wait"]


def _corpus() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for index in range(12):
        texts.append(f"Laboratory report. Results: {LAB_WORDS[index % 6]} {LAB_WORDS[(index + 2) % 6]} within range.")
        labels.append(Category.LAB)
        texts.append(f"Dear colleague, I would be grateful to {REFERRAL_WORDS[index % 6]} for an opinion. Referral.")
        labels.append(Category.REFERRAL)
    return texts, labels


def test_a_keyword_rule_suggests_its_category_and_names_the_keyword(organisation, other_organisation):
    CategoryRule.objects.create(organisation=organisation, category=Category.LAB, keywords="full blood count\nHbA1c")
    CategoryRule.objects.create(organisation=other_organisation, category=Category.CONSENT, keywords="results")
    [suggestion] = suggest_categories(organisation_id=organisation.pk, text="Your FULL  BLOOD COUNT results")
    assert suggestion["category"] == "lab" and suggestion["basis"] == "rule"
    assert "full blood count" in suggestion["evidence"]
    assert suggest_categories(organisation_id=organisation.pk, text="a bloodcount, not whole words") == []


def test_disabled_rules_do_not_suggest(organisation):
    CategoryRule.objects.create(organisation=organisation, category=Category.LAB, keywords="ferritin", enabled=False)
    assert suggest_categories(organisation_id=organisation.pk, text="ferritin") == []


def test_the_classifier_learns_the_organisations_categories_and_stores_plain_numbers(organisation):
    texts, labels = _corpus()
    parameters = train_classifier(texts, labels)
    assert parameters is not None and parameters["classes"] == ["lab", "referral"]
    CategoryClassifier.objects.create(
        organisation=organisation, trained_at="2026-12-07T02:30:00Z", document_count=24, parameters=parameters
    )
    lab = classifier_suggestion(organisation_id=organisation.pk, text="Results: ferritin and creatinine")
    referral = classifier_suggestion(organisation_id=organisation.pk, text="Dear colleague, kindly assess. Referral")
    assert lab is not None and lab.category == "lab" and lab.basis == "classifier" and lab.confidence > 0.5
    assert referral is not None and referral.category == "referral" and referral.confidence > 0.5


def test_too_few_documents_or_one_category_make_no_classifier():
    assert train_classifier(["Results: ferritin"] * 5, ["lab"] * 5) is None
    assert train_classifier(["Results: ferritin", "Referral please"], ["lab", "referral"]) is None


@pytest.fixture
def filed_documents(organisation, patient, clinician):
    """Documents with indexed text, as the text extraction leaves them."""
    texts, labels = _corpus()
    for text, label in zip(texts, labels, strict=True):
        document = document_row(patient, clinician, category=label)
        index_replace_pages(document_id=document.pk, pages=[text], language="english")
        Document.objects.filter(pk=document.pk).update(text_status="done")


def test_the_nightly_task_retrains_each_organisation_and_the_item_shows_the_confidence(
    filed_documents, organisation, settings, clinician, filesystem_storage
):
    settings.QUILL_SCANNER = "none"
    assert retrain_category_classifiers() == 1
    classifier = CategoryClassifier.objects.get(organisation=organisation)
    assert classifier.document_count == 24
    source = make_source(organisation, default_category=Category.OTHER)
    item: InboxItem = receive(source, letter_pdf(["Laboratory report", "Results: ferritin, creatinine"])).item
    inbox_prepare(item_id=item.pk)
    item.refresh_from_db()
    [suggestion] = item.suggestions["categories"]
    assert suggestion["category"] == "lab" and suggestion["basis"] == "classifier"
    body = factories.signed_in_client(clinician).get(f"/inbox/{item.pk}/").content.decode()
    assert f"Lab report</strong> — {round(suggestion['confidence'] * 100)}%" in body
    assert '<option value="lab" selected>' in body


def test_retraining_with_too_little_left_removes_the_classifier(organisation, settings):
    CategoryClassifier.objects.create(
        organisation=organisation, trained_at="2026-12-07T02:30:00Z", document_count=24, parameters={}
    )
    assert retrain_classifier(organisation_id=organisation.pk) == 0
    assert not CategoryClassifier.objects.filter(organisation=organisation).exists()
    assert (
        django_settings.CELERY_BEAT_SCHEDULE["retrain-inbox-classifiers"]["task"] == retrain_category_classifiers.name
    )


def test_rules_are_managed_in_the_admin_per_organisation(organisation, other_organisation):
    administrator = factories.make_user(organisation, ["administrator"], totp=True)
    mine = CategoryRule.objects.create(organisation=organisation, category=Category.LAB, keywords="ferritin")
    theirs = CategoryRule.objects.create(organisation=other_organisation, category=Category.LAB, keywords="troponin")
    client = factories.signed_in_client(administrator)
    body = client.get("/admin/inbox/categoryrule/").content.decode()
    assert "ferritin" in body and "troponin" not in body
    assert client.get(f"/admin/inbox/categoryrule/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/inbox/categoryrule/{theirs.pk}/change/").status_code == 302
