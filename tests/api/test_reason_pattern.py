"""The reason fields' pattern (in the schema, and checked by the API) says exactly what the services' rule
says: five characters at least once str.strip() has taken the spaces off both ends."""

from __future__ import annotations

import re

import pytest

from quill.api import REASON_PATTERN

SPACES = [chr(code) for code in range(0x3100) if chr(code).isspace()]


@pytest.mark.parametrize("space", SPACES, ids=[f"U+{ord(c):04X}" for c in SPACES])
def test_every_space_str_strip_removes_is_a_space_to_the_pattern(space):
    four = f"{space}abcd{space}"
    five = f"{space}ab{space}de{space}"
    assert not re.match(REASON_PATTERN, four) and len(four.strip()) == 4
    assert re.match(REASON_PATTERN, five) and len(five.strip()) == 5


@pytest.mark.parametrize("text", ["\n×²\x11§\x85\n", "\ufeffabcd", "abcd\x1f", "a\x85\x85\x85e", "\x00bcde"])
def test_the_pattern_and_the_services_rule_agree(text):
    assert bool(re.match(REASON_PATTERN, text)) == (len(text.strip()) >= 5)
