"""One registry of error codes: every code in the code is in docs/errors.md, and the other way round.

The registry is the ``QuillError`` classes (one ``errors.py`` per app, bases in
``quill/errors.py``) plus each errors module's ``CODES_WITHOUT_CLASS`` for codes sent
without a class. The source scan below keeps that second list honest.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections import defaultdict
from pathlib import Path

import pytest

import apps
import quill
from quill import api as quill_api
from quill.errors import QuillError

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"

# Exceptions defined outside an errors module on purpose, each with its reason.
OUTSIDE_ERRORS_MODULES = {
    "quill.commands.ProblemsFound": "the command base's exit-code protocol (CommandError), no code",
    "quill.commands.Unable": "the command base's exit-code protocol (CommandError), no code",
}
# Codes a literal may carry that are sent as another code (quill.api maps them to "invalid").
SENT_AS_INVALID = {"invalid", "required", "null", "blank"}


def _import_everything() -> list:
    modules = []
    for package in (apps, quill):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" in info.name or info.name.endswith(("asgi", "wsgi")):
                continue
            modules.append(importlib.import_module(info.name))
    return modules


MODULES = _import_everything()


def _walk(klass: type) -> list[type]:
    found = []
    for sub in klass.__subclasses__():
        found.append(sub)
        found.extend(_walk(sub))
    return found


def _is_errors_module(module_name: str) -> bool:
    return module_name == "quill.errors" or re.fullmatch(r"apps\.\w+\.errors", module_name) is not None


def _app_of(module_name: str) -> str:
    return "quill" if module_name.startswith("quill.") else module_name.split(".")[1]


def error_classes() -> list[type]:
    ours = [QuillError, *_walk(QuillError)]
    return sorted({k for k in ours if k.__module__.split(".")[0] in {"apps", "quill"}}, key=lambda k: k.__qualname__)


def code_registry() -> dict[str, dict]:
    """code -> {"status": {...}, "apps": {...}, "sources": [...]} from the classes and CODES_WITHOUT_CLASS."""
    registry: dict[str, dict] = defaultdict(lambda: {"status": set(), "apps": set(), "sources": []})
    for klass in error_classes():
        entry = registry[klass.error_code]
        entry["status"].add(klass.http_status)
        entry["apps"].add(_app_of(klass.__module__))
        entry["sources"].append(f"{klass.__module__}.{klass.__qualname__}")
    for module in MODULES:
        if _is_errors_module(module.__name__):
            for code, status in getattr(module, "CODES_WITHOUT_CLASS", {}).items():
                entry = registry[code]
                entry["status"].add(status)
                entry["apps"].add(_app_of(module.__name__))
                entry["sources"].append(f"{module.__name__}.CODES_WITHOUT_CLASS")
    return dict(registry)


def documented_codes(text: str) -> dict[str, tuple[str, int]]:
    """code -> (app heading, HTTP status) from the tables under each ``## <app>`` heading."""
    rows: dict[str, tuple[str, int]] = {}
    app = None
    for line in text.splitlines():
        if line.startswith("## "):
            app = line[3:].split()[0].strip("`")
        row = re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|\s*(\d{3})\s*\|", line)
        if row:
            code, status = row.group(1), int(row.group(2))
            assert code not in rows, f"{code} is listed twice in docs/errors.md"
            rows[code] = (app, status)
    return rows


def test_every_code_has_one_status_and_every_class_is_found():
    registry = code_registry()
    assert len(error_classes()) > 50, "the class walk found too few error classes: are the apps imported?"
    mixed = {code: sorted(entry["status"]) for code, entry in registry.items() if len(entry["status"]) != 1}
    assert not mixed, f"codes sent with more than one HTTP status: {mixed}"


def test_docs_and_code_list_the_same_codes_with_the_same_status():
    registry = code_registry()
    documented = documented_codes(DOC.read_text())

    undocumented = sorted(set(registry) - set(documented))
    unknown = sorted(set(documented) - set(registry))
    wrong_status = {
        code: (documented[code][1], next(iter(entry["status"])))
        for code, entry in registry.items()
        if code in documented and documented[code][1] not in entry["status"]
    }
    wrong_app = {
        code: (documented[code][0], sorted(entry["apps"]))
        for code, entry in registry.items()
        if code in documented and documented[code][0] not in entry["apps"]
    }
    problems = [
        f"codes missing from docs/errors.md: {undocumented}" if undocumented else "",
        f"docs/errors.md lists codes the code never sends: {unknown}" if unknown else "",
        f"docs/errors.md has the wrong HTTP status (doc, code): {wrong_status}" if wrong_status else "",
        f"docs/errors.md lists codes under the wrong app (doc, code): {wrong_app}" if wrong_app else "",
    ]
    assert not any(problems), "\n".join(filter(None, problems))


def test_no_code_is_defined_by_two_classes():
    definers = defaultdict(list)
    for klass in error_classes():
        if "error_code" in vars(klass):  # a subclass that inherits the code does not define it again
            definers[klass.error_code].append(f"{klass.__module__}.{klass.__qualname__}")
    twice = {code: names for code, names in definers.items() if len(names) > 1}
    assert not twice, f"error codes defined by more than one class (subclass the first instead): {twice}"


def test_error_classes_live_in_errors_modules():
    outside = sorted(
        f"{klass.__module__}.{klass.__qualname__}"
        for klass in error_classes()
        if not _is_errors_module(klass.__module__)
    )
    assert not outside, f"QuillError classes outside an app's errors.py: {outside}"


def test_other_exceptions_live_in_errors_modules_too():
    """Internal exceptions (scanner down, outbox retry, integrity abort) share the app's errors module."""
    found = []
    for module in MODULES:
        if _is_errors_module(module.__name__):
            continue
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(f"{module.__name__}.{name}")
    assert sorted(set(found) - set(OUTSIDE_ERRORS_MODULES)) == []


def _literal_codes() -> dict[str, list[str]]:
    """Codes written as literals where a response is built, by file: the class-less codes' evidence."""
    patterns = [
        re.compile(r"""error_code=["']([a-z0-9_]+)["']"""),
        re.compile(r"""["']error_code["']\s*:\s*["']([a-z0-9_]+)["']"""),
        re.compile(r"""\bcode=["']([a-z0-9_]+)["']"""),
        re.compile(r"""ERROR_CODE_SYSTEM,\s*["']code["']\s*:\s*["']([a-z0-9_]+)["']"""),
    ]
    # Patient field problems are (message, code) pairs; PatientInvalid sends the first code.
    field_problem = re.compile(r"""\(\s*(?:f?"[^"\n]* [^"\n]*"|problem|message),\s*"([a-z0-9_]+)"\s*\)""")
    found: dict[str, list[str]] = defaultdict(list)
    for path in [*(ROOT / "apps").rglob("*.py"), *(ROOT / "quill").rglob("*.py")]:
        if "migrations" in path.parts or path.parent.name == "audit":
            continue  # audit's reason strings are not error codes
        text = path.read_text()
        for pattern in patterns:
            for code in pattern.findall(text):
                found[code].append(str(path.relative_to(ROOT)))
        if path.parent.name == "patients" and path.name in {"services.py", "errors.py"}:
            for code in field_problem.findall(text):
                found[code].append(str(path.relative_to(ROOT)))
    for code, _ in quill_api._CODES.values():
        found[code].append("quill/api.py _CODES")
    return found


def test_every_literal_code_in_the_source_is_registered():
    registry = code_registry()
    literals = _literal_codes()
    assert {"ip_not_allowed", "search_parameter_ignored", "not_supported", "throttled"} <= set(literals), (
        "the source scan no longer finds known literal codes; fix its patterns"
    )
    missing = {code: files for code, files in literals.items() if code not in registry and code not in SENT_AS_INVALID}
    assert not missing, f"codes sent as literals but not in any CODES_WITHOUT_CLASS: {missing}"


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (lambda text: text.replace("| `scan_pending` | 409 |", "| `scan_pending` | 400 |"), "wrong HTTP status"),
        (lambda text: re.sub(r"^\| `throttled` .*\n", "", text, flags=re.M), "missing from docs/errors.md"),
        (lambda text: text + "| `no_such_code` | 400 | x | x |\n", "codes the code never sends"),
    ],
    ids=["status", "missing", "extra"],
)
def test_the_doc_check_fails_on_a_broken_doc(monkeypatch, tmp_path, broken, complaint):
    # given a copy of the doc with one mistake
    doc = tmp_path / "errors.md"
    doc.write_text(broken(DOC.read_text()))
    assert doc.read_text() != DOC.read_text()
    monkeypatch.setattr(f"{__name__}.DOC", doc)
    # when the doc check runs, then it names the mistake
    with pytest.raises(AssertionError, match=complaint):
        test_docs_and_code_list_the_same_codes_with_the_same_status()


def test_errors_modules_import_nothing_but_errors():
    """An errors module stays importable from anywhere: it imports only other errors modules."""
    for path in [ROOT / "quill" / "errors.py", *(ROOT / "apps").glob("*/errors.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"apps", "quill"}:
                assert node.module.endswith(".errors"), f"{path.relative_to(ROOT)} imports {node.module}"
