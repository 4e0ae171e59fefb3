"""One registry of audit actions (apps/audit/actions.py): every action has a label, none is written elsewhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from apps.audit.actions import LABELS, Action, action_label
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "apps" / "audit" / "actions.py"
AUDIT_CALLS = {"audit_record", "audit_denied", "audit_document"}


def _sources() -> list[Path]:
    files = [*ROOT.joinpath("apps").rglob("*.py"), *ROOT.joinpath("quill").rglob("*.py")]
    return [path for path in files if "migrations" not in path.parts and path != REGISTRY]


def _action_strings(path: Path) -> list[tuple[int, str]]:
    """String constants that are registered actions, and string constants passed as an audit call's action."""
    values = {action.value for action in Action}
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values:
            found.add((node.lineno, node.value))
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in AUDIT_CALLS:
                continue
            candidates = [kw.value for kw in node.keywords if kw.arg == "action"]
            if name == "audit_document" and node.args:
                candidates.append(node.args[0])
            for value in candidates:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add((node.lineno, value.value))
    return sorted(found)


def test_every_action_has_a_label():
    assert set(LABELS) == set(Action)
    assert all(label and label[0].isupper() for label in LABELS.values())


def test_the_scan_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('audit_record(action="document.viewed")\naudit_document("made.up", document=d)\n')

    assert _action_strings(sample) == [(1, "document.viewed"), (2, "made.up")]


def test_no_action_string_is_written_outside_the_registry():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {value}" for path in _sources() for line, value in _action_strings(path)
    ]

    assert offenders == []


@pytest.mark.django_db
def test_an_action_outside_the_registry_is_refused_and_nothing_is_recorded():
    with pytest.raises(ValueError):
        audit_record(action="document.teleported")  # type: ignore[arg-type]

    assert not AuditEvent.objects.exists()


def test_labels_are_what_people_read():
    assert action_label(Action.DOCUMENT_VIEWED) == "Opened the document page"
    assert action_label("patient.viewed") == "Viewed the record"
    assert action_label("retired.action") == "retired.action"
