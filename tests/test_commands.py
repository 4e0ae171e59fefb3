"""Every Quill management command uses the shared base (quill/commands.py): same options, output, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import load_command_class

from quill.commands import QuillCommand

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = sorted(
    (path.parents[2].name, path.stem)
    for path in (ROOT / "apps").glob("*/management/commands/*.py")
    if not path.stem.startswith("_")
)


def test_there_are_commands_to_check():
    assert len(COMMANDS) > 10


@pytest.mark.parametrize(("app", "name"), COMMANDS, ids=[name for _, name in COMMANDS])
def test_command_uses_the_shared_base(app, name):
    command = load_command_class(f"apps.{app}", name)

    assert isinstance(command, QuillCommand)
