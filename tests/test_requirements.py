"""The lock files are what gets installed: they must match the pins and each other, with hashes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    return {_name(name): version for name, version in _PIN.findall(path.read_text())}


def lock_entries(path: Path) -> list[str]:
    """One text block per pinned package (its line plus the --hash lines after it)."""
    return re.split(r"\n(?=[A-Za-z0-9])", path.read_text().split("\n\n", 1)[-1].split("\n#\n", 1)[-1].strip())


@pytest.mark.parametrize(("source", "lock"), [("base.txt", "base.lock"), ("dev.txt", "dev.lock")], ids=["base", "dev"])
def test_every_pin_is_locked_at_its_version(source, lock):
    locked = pins(REQUIREMENTS / lock)
    wanted = pins(REQUIREMENTS / source)
    assert wanted, f"no pins found in {source}"
    assert {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version} == {}


def test_dev_lock_includes_base_lock_at_the_same_versions():
    base, dev = pins(REQUIREMENTS / "base.lock"), pins(REQUIREMENTS / "dev.lock")
    assert {name: (version, dev.get(name)) for name, version in base.items() if dev.get(name) != version} == {}


@pytest.mark.parametrize("lock", ["base.lock", "dev.lock"])
def test_every_locked_package_has_a_hash(lock):
    entries = [entry for entry in lock_entries(REQUIREMENTS / lock) if _PIN.match(entry)]
    assert len(entries) == len(pins(REQUIREMENTS / lock)) > 10
    assert [entry.splitlines()[0] for entry in entries if "--hash=sha256:" not in entry] == []
