"""Dependencies between apps run one way (docs/architecture.md, "Layering").

Every ``.py`` under ``apps/`` is parsed (no import runs), and every import counts,
including one inside a function: moving an import into a function hides a cycle
from Python, not from the design. The allowed edges are the table below; the same
table, drawn, is in docs/architecture.md. A failure names each offending file:line.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = ROOT / "apps"
QUILL_DIR = ROOT / "quill"

# app -> the apps it may import: every layer below it (drawn in docs/architecture.md, "Layering").
#
#   operations ──▶ letters      fhir      inbox     operator work; it exports letters and MHD rows and
#        └────────────┴───────────┴──────────┘       knows every stored key, so it may import them
#                 fhir ──▶ inbox ──▶ reviews  ITI-65 for an unknown patient goes to the inbox; filing
#                                           can assign a clinical review
#                 documents                 documents and everything done to them
#                 patients                  patients, access, break-glass
#                 outbox                    the transactional outbox
#                 accounts                  users and organisations
#              audit     files              ground: import no app (audit knows everyone by id)
_GROUND = {"audit", "files"}
_DOCUMENTS_AND_BELOW = _GROUND | {"accounts", "outbox", "patients", "documents"}
ALLOWED: dict[str, set[str]] = {
    "audit": set(),
    "files": set(),
    "accounts": _GROUND,
    "outbox": _GROUND | {"accounts"},
    "patients": _GROUND | {"accounts", "outbox"},
    "documents": _GROUND | {"accounts", "outbox", "patients"},
    "fhir": _DOCUMENTS_AND_BELOW | {"inbox"},
    "letters": _DOCUMENTS_AND_BELOW,
    "reviews": _DOCUMENTS_AND_BELOW,
    "inbox": _DOCUMENTS_AND_BELOW | {"reviews"},
    "operations": _DOCUMENTS_AND_BELOW | {"letters", "fhir", "inbox", "reviews"},
}

# Modules of the project package that wire the apps together and so may import them.
# Everything else in quill/ is plumbing that any app can import, so it must not import apps.
# types.py names the User model for the type checker only (under TYPE_CHECKING, never at run time).
QUILL_MAY_IMPORT_APPS = {"urls.py", "settings.py", "api_root.py", "admin_site.py", "types.py"}

# Models looked up by app label (``get_model("accounts", "Organisation")``) against the layering.
# Not an import, but a dependency all the same, so each file that does it is listed with its reason.
LOOKUPS_BY_LABEL: dict[str, str] = {
    "apps/audit/organisations.py": "verify_audit and audit_head name each chain's organisation",
}


@dataclass(frozen=True)
class Edge:
    source: str  # the importing app (or "quill/<module>.py")
    target: str  # the imported app
    where: str  # path:line

    def __str__(self) -> str:
        return f"{self.where}: {self.source} -> {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> str:
    module = _module_name(path)
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imported_modules(node: ast.AST, path: Path) -> list[str]:
    """The absolute module names an import statement names (``from apps import x`` names ``apps.x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = _package_of(path).split(".")
            base = base[: len(base) - (node.level - 1)]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        return [module] + [f"{module}.{alias.name}" for alias in node.names if module == "apps"]
    return []


def _app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "apps" else None


def _label_lookups(node: ast.AST) -> list[str]:
    """App labels in ``get_model("label", ...)`` or ``get_model("label.Model")`` calls."""
    if not isinstance(node, ast.Call):
        return []
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    if name != "get_model" or not node.args:
        return []
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return [first.value.split(".")[0]]
    return []


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


def _scan(files, source_of) -> tuple[list[Edge], list[Edge]]:
    imports, lookups = [], []
    for path in files:
        source = source_of(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for module in _imported_modules(node, path):
                target = _app_of(module)
                if target and target != source:
                    imports.append(Edge(source, target, _where(path, node)))
            for label in _label_lookups(node):
                if label != source:
                    lookups.append(Edge(source, label, _where(path, node)))
    return sorted(set(imports), key=str), sorted(set(lookups), key=str)


def _app_files() -> list[Path]:
    return sorted(path for path in APPS_DIR.rglob("*.py") if path.parent != APPS_DIR)


def _app_name(path: Path) -> str:
    return path.relative_to(APPS_DIR).parts[0]


APP_IMPORTS, APP_LOOKUPS = _scan(_app_files(), _app_name)


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """One cycle (as a list of apps, first repeated last) per strongly connected group of apps."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        graph[edge.source].add(edge.target)
    cycles, seen = [], set()
    for start in sorted(graph):
        if start in seen:
            continue
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycle = [*trail, start]
                    cycles.append(cycle)
                    seen.update(cycle)
                    stack.clear()
                    break
                if nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
    return cycles


def test_every_app_is_in_the_table():
    apps = {path.name for path in APPS_DIR.iterdir() if (path / "apps.py").exists()}

    assert apps == set(ALLOWED), "add the app to ALLOWED here and to the diagram in docs/architecture.md"


def test_the_table_itself_has_no_cycle():
    edges = [Edge(source, target, "table") for source, targets in ALLOWED.items() for target in targets]

    assert _cycles(edges) == []


def test_no_import_cycle_between_apps():
    cycles = _cycles(APP_IMPORTS)

    report = []
    for cycle in cycles:
        report.append(" -> ".join(cycle))
        for source, target in pairwise(cycle):
            report.extend(f"    {edge}" for edge in APP_IMPORTS if (edge.source, edge.target) == (source, target))
    assert not cycles, "import cycles between apps:\n" + "\n".join(report)


def test_every_import_goes_down_the_layers():
    wrong = [edge for edge in APP_IMPORTS if edge.target not in ALLOWED.get(edge.source, set())]

    assert not wrong, "imports against the layering (see ALLOWED):\n" + "\n".join(f"  {edge}" for edge in wrong)


def test_models_looked_up_by_label_are_the_listed_ones():
    unlisted = [
        edge
        for edge in APP_LOOKUPS
        if edge.target not in ALLOWED.get(edge.source, set()) and edge.where.partition(":")[0] not in LOOKUPS_BY_LABEL
    ]

    assert not unlisted, "get_model() across the layering, not in LOOKUPS_BY_LABEL:\n" + "\n".join(
        f"  {edge}" for edge in unlisted
    )


def test_project_plumbing_imports_no_app():
    files = sorted(path for path in QUILL_DIR.rglob("*.py") if path.name not in QUILL_MAY_IMPORT_APPS)
    imports, lookups = _scan(files, lambda path: f"quill/{path.name}")

    wrong = imports + lookups
    assert not wrong, "quill/ plumbing that imports apps:\n" + "\n".join(f"  {edge}" for edge in wrong)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from apps.patients.models import Patient", "patients"),
        ("import apps.patients.models", "patients"),
        ("from apps import patients", "patients"),
        ("def f():\n    from apps.patients import services\n", "patients"),
        ("from ..patients import models", "patients"),
    ],
    ids=["from-module", "import", "from-apps", "inside-a-function", "relative"],
)
def test_the_scanner_sees_every_form_of_import(source, expected):
    path = APPS_DIR / "audit" / "example.py"  # only its place in the tree matters
    tree = ast.parse(source)

    found = {_app_of(module) for node in ast.walk(tree) for module in _imported_modules(node, path)}

    assert expected in found
