import re

import pytest

from apps.letters.errors import TemplateParseError
from apps.letters.openehr.template import CTX_KEYS, TEMPLATE_ID, build_id, load_letter_template, parse_template


@pytest.fixture(scope="module")
def letter_template():
    return parse_template(load_letter_template())


def test_shipped_template_has_the_quill_letter_id(letter_template):
    assert letter_template.template_id == TEMPLATE_ID == "quill_letter.v1"
    assert letter_template.concept == "Quill letter"
    assert letter_template.root_id == "quill_letter"


def test_shipped_template_uses_report_and_clinical_synopsis(letter_template):
    assert letter_template.archetype_ids[0] == "openEHR-EHR-COMPOSITION.report.v1"
    assert "openEHR-EHR-EVALUATION.clinical_synopsis.v1" in letter_template.archetype_ids


@pytest.mark.parametrize(
    "path",
    [
        "quill_letter/context/start_time",
        "quill_letter/context/report_id",
        "quill_letter/context/status",
        "quill_letter/context/letter_details/subject",
        "quill_letter/context/letter_details/recipient",
        "quill_letter/clinical_synopsis/synopsis",
        "quill_letter/category|code",
        "quill_letter/language|code",
        "quill_letter/composer|name",
        "ctx/composer_name",
    ],
)
def test_template_admits_letter_paths(letter_template, path):
    assert letter_template.admits(path)


@pytest.mark.parametrize(
    "path",
    ["quill_letter/clinical_synopsis:0/synopsis", "quill_letter/synopsis", "report/context/start_time", "ctx/nope"],
)
def test_template_refuses_paths_it_does_not_define(letter_template, path):
    assert not letter_template.admits(path)


def test_multiple_occurrence_nodes_get_an_index():
    # given a template whose content EVALUATION may occur any number of times
    opt = load_letter_template().decode()
    unbounded = re.sub(
        r"(<rm_type_name>EVALUATION</rm_type_name>\s*<occurrences>.*?)<upper_unbounded>false</upper_unbounded>",
        r"\1<upper_unbounded>true</upper_unbounded>",
        opt,
        count=1,
        flags=re.DOTALL,
    )
    assert unbounded != opt
    # when / then
    paths = parse_template(unbounded).flat_paths
    assert "quill_letter/clinical_synopsis:0/synopsis" in paths
    assert "quill_letter/clinical_synopsis/synopsis" not in paths


@pytest.mark.parametrize(
    ("term", "expected"),
    [("Report ID", "report_id"), ("Clinical Synopsis", "clinical_synopsis"), ("3 day plan", "a3_day_plan")],
    ids=["space", "case", "leading-digit"],
)
def test_build_id(term, expected):
    assert build_id(term) == expected


def test_ctx_keys_are_always_admitted(letter_template):
    assert letter_template.flat_paths >= CTX_KEYS


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><template>&x;</template>',
        b"<template><unclosed></template>",
        b"<other/>",
        b'<template xmlns="http://schemas.openehr.org/v1"><concept>x</concept></template>',
    ],
    ids=["external-entity", "malformed", "not-a-template", "no-definition"],
)
def test_bad_documents_are_refused(document):
    with pytest.raises(TemplateParseError):
        parse_template(document)
