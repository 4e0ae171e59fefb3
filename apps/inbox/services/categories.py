"""Suggesting an item's category: the organisation's keyword rules, and its own text classifier.

Rules are exact: a keyword (whole words, any case) found in the text suggests its category at
a fixed confidence, naming the keyword as evidence. The classifier is TF-IDF over words and word
pairs with a multinomial logistic regression (scikit-learn), trained on the organisation's own
filed documents that have text (newest first, at most ``QUILL_INBOX_CLASSIFIER_MAX_DOCUMENTS``)
and retrained nightly by the ``inbox.retrain_category_classifiers`` beat task. Its parameters
are stored as plain numbers, so loading one never unpickles anything; an organisation with too
few documents (or only one category) has no classifier and gets rule suggestions only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from apps.documents.models import Category, Document, TextStatus
from apps.documents.search.query import document_text_pages
from apps.inbox.models import CategoryClassifier, CategoryRule

RULE_CONFIDENCE = 0.9
WORDS_ONLY = r"(?u)\b[a-zA-Z][a-zA-Z]+\b"  # numbers identify patients and dates, not categories
MAX_FEATURES = 3000
MIN_DOCUMENTS_PER_CATEGORY = 2
LABELS = dict(Category.choices)


@dataclass
class CategorySuggestion:
    category: str
    confidence: float
    basis: str  # "rule" or "classifier"
    evidence: str

    def as_json(self) -> dict[str, Any]:
        return {"category": self.category, "label": str(LABELS.get(self.category, self.category)),
                "confidence": self.confidence, "basis": self.basis, "evidence": self.evidence}  # fmt: skip


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    words = [re.escape(word) for word in keyword.split()]
    return re.compile(r"\b" + r"\s+".join(words) + r"\b", re.IGNORECASE)


def rule_suggestions(*, organisation_id: uuid.UUID, text: str) -> list[CategorySuggestion]:
    found: dict[str, CategorySuggestion] = {}
    for rule in CategoryRule.objects.filter(organisation_id=organisation_id, enabled=True):
        if rule.category in found:
            continue
        for keyword in rule.keyword_list():
            if _keyword_pattern(keyword).search(text):
                found[rule.category] = CategorySuggestion(
                    rule.category, RULE_CONFIDENCE, "rule", f"keyword “{keyword}” (organisation rule)"
                )
                break
    return list(found.values())


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(
        lowercase=True, ngram_range=(1, 2), max_features=MAX_FEATURES, sublinear_tf=True,
        token_pattern=WORDS_ONLY,
    )  # fmt: skip


def train_classifier(texts: list[str], labels: list[str]) -> dict[str, Any] | None:
    """The classifier's parameters as JSON-ready numbers; None when the data cannot make a useful one."""
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    kept = [(text, label) for text, label in zip(texts, labels, strict=True)
            if counts[label] >= MIN_DOCUMENTS_PER_CATEGORY and text.strip()]  # fmt: skip
    if len({label for _, label in kept}) < 2:
        return None
    vectorizer = _vectorizer()
    matrix = vectorizer.fit_transform([text for text, _ in kept])
    model = LogisticRegression(max_iter=500, C=10.0)
    model.fit(matrix, [label for _, label in kept])
    vocabulary = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
    return {
        "vocabulary": vocabulary,
        "idf": [round(float(value), 6) for value in vectorizer.idf_],
        "classes": [str(label) for label in model.classes_],
        "coef": [[round(float(value), 6) for value in row] for row in model.coef_],
        "intercept": [round(float(value), 6) for value in model.intercept_],
    }


@dataclass(frozen=True)
class LoadedClassifier:
    vectorizer: TfidfVectorizer
    model: LogisticRegression


@lru_cache(maxsize=32)
def _load(organisation_id: str, trained_at: str) -> LoadedClassifier | None:
    row = CategoryClassifier.objects.filter(organisation_id=organisation_id).first()
    if row is None:
        return None
    parameters = row.parameters
    vectorizer = _vectorizer()
    vectorizer.vocabulary_ = parameters["vocabulary"]
    vectorizer.idf_ = np.array(parameters["idf"])
    model = LogisticRegression()
    model.classes_ = np.array(parameters["classes"])
    model.coef_ = np.array(parameters["coef"])
    model.intercept_ = np.array(parameters["intercept"])
    return LoadedClassifier(vectorizer, model)


def classifier_suggestion(*, organisation_id: uuid.UUID, text: str) -> CategorySuggestion | None:
    trained_at = (
        CategoryClassifier.objects.filter(organisation_id=organisation_id).values_list("trained_at", flat=True).first()
    )
    if trained_at is None or not text.strip():
        return None
    loaded = _load(str(organisation_id), trained_at.isoformat())
    if loaded is None:
        return None
    features = loaded.vectorizer.transform([text])
    if features.nnz == 0:
        return None
    probabilities = loaded.model.predict_proba(features)[0]
    best = int(np.argmax(probabilities))
    return CategorySuggestion(
        str(loaded.model.classes_[best]), round(float(probabilities[best]), 2), "classifier",
        "text classifier trained on this organisation's filed documents",
    )  # fmt: skip


def suggest_categories(*, organisation_id: uuid.UUID, text: str) -> list[dict[str, Any]]:
    """Rule suggestions first (they are the organisation's own word), then the classifier's."""
    suggestions = rule_suggestions(organisation_id=organisation_id, text=text)
    learned = classifier_suggestion(organisation_id=organisation_id, text=text)
    if learned is not None:
        suggestions.append(learned)
    return [suggestion.as_json() for suggestion in suggestions]


def retrain_classifier(*, organisation_id: uuid.UUID) -> int:
    """Train the organisation's classifier again from its filed documents; returns how many were used."""
    documents = (
        Document.objects.filter(organisation_id=organisation_id, is_current=True, deleted_at__isnull=True,
                                purged_at__isnull=True, text_status=TextStatus.DONE)
        .order_by("-uploaded_at")
        .values_list("pk", "category")[: settings.QUILL_INBOX_CLASSIFIER_MAX_DOCUMENTS]
    )  # fmt: skip
    texts, labels = [], []
    for document_id, category in documents:
        pages = document_text_pages(document_id=document_id)
        texts.append("\n".join(page.text for page in pages[:5]))
        labels.append(category)
    parameters = train_classifier(texts, labels)
    if parameters is None:
        CategoryClassifier.objects.filter(organisation_id=organisation_id).delete()
        return 0
    CategoryClassifier.objects.update_or_create(
        organisation_id=organisation_id,
        defaults={"trained_at": timezone.now(), "document_count": len(texts), "parameters": parameters},
    )
    return len(texts)
