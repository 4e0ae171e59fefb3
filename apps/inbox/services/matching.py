"""Reading names and dates through OCR noise, for the name + date-of-birth suggestion only.

OCR misreads a letter in a few known ways: ``0``/``O``, ``1``/``l``/``I``/``i``, ``5``/``S``,
``8``/``B``, ``e``/``c``, ``m`` read as ``rn``; it drops spaces (``EllisMarwood``) and leaves
stray marks (``Sel.wood``, ``01/0,3/1970``). Here a name is compared in a *folded* form where
each of those confusions reads the same (``name_key``), and a date is read with stray marks
and letter-for-digit confusions forgiven (``find_dates_tolerant``).

What is never forgiven: a different letter or digit outside those confusions, or a name that
is only part of a longer word (``Marwood`` is not found in ``Marwoodson``), so a look-alike
patient (another family name on the same birthday, the same name born a day later) is not
matched. A tolerant reading only ever *suggests*: automatic filing reads the NHS number and
date of birth exactly (``apps.inbox.services.autofiling``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

# Marks OCR scatters between letters and digits, and the separators a name may be written with.
_STRAY = re.compile(r"[\s.,'`’‘\-]")
# Letters and digits OCR confuses, folded to one form each (after lower-casing).
_FOLD = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "5": "s", "8": "b", "c": "e"})
_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1", "S": "5", "B": "8"})

# A run of characters a name can be read from (letters, confusable digits, stray marks inside).
_WORDISH = re.compile(r"[A-Za-z0-9|!'’`.,\-]+")
# Where a dropped space is still visible: a small letter followed by a capital (EllisMarwood).
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TITLES = {"dr", "doctor", "prof", "professor"}  # a name straight after one is a clinician's (Dear Dr Marwood)
MAX_PIECES = 4  # a family name is read from at most this many words in a row (Van der Berg-Smith)

_DL = r"[0-9OoDlI|SB]"  # a digit as OCR may have read it
_SM = r"[.,'`]?"  # at most one stray mark
_YEAR = rf"{_DL}{_SM}{_DL}{_SM}{_DL}{_SM}{_DL}"
_DAY = rf"{_DL}{_SM}{_DL}?"
_SEP = rf"{_SM}\s?[/.\-]\s?{_SM}"
# Looked for at every position (the lookahead), so a confusable letter before a date cannot hide it
# (``DOBl2/03/1970``); of the readings ending at the same place the longest wins (12, not 2).
_LOOSE_NUMERIC = re.compile(rf"(?=(?<![0-9])(?<![0-9][.,'`])(({_DAY}){_SEP}({_DAY}){_SEP}({_YEAR}))(?![0-9]))")
_LOOSE_WORD = re.compile(
    rf"(?=(?<![0-9])(({_DAY})(?:st|nd|rd|th)?[.,'`]?\s*([A-Za-z][A-Za-z.,'`]{{2,11}}?)[.,'`]?\s*({_YEAR}))(?![0-9]))"
)
_MONTH_NAMES = (
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
    ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
    ("dec", "december"),
)  # fmt: skip
YEARS = range(1880, 2101)  # a tolerant reading outside these is not a date of birth or a letter's date


def name_key(text: str) -> str:
    """`text` as compared when OCR may have misread it: lower case, no spaces, hyphens, apostrophes or stray
    marks, ``rn`` read as ``m``, and the confusable letters and digits folded together."""
    return _STRAY.sub("", text.lower()).replace("rn", "m").translate(_FOLD)


def plain_key(text: str) -> str:
    """`text` as compared exactly: lower case, without spaces, hyphens, apostrophes or stray marks."""
    return _STRAY.sub("", text.lower())


_MONTHS = {name_key(name): number for number, names in enumerate(_MONTH_NAMES, start=1) for name in names}


def _number(text: str) -> int | None:
    digits = re.sub(r"[.,'`]", "", text).translate(_OCR_DIGITS)
    return int(digits) if digits.isdigit() else None


def _date(year: int | None, month: int | None, day: int | None) -> date | None:
    if year is None or month is None or day is None or year not in YEARS:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def find_dates_tolerant(text: str) -> list[date]:
    """Dates written day-first or with a month name, read through OCR's confusions and stray marks, in order."""
    by_end: dict[int, tuple[int, date]] = {}  # where a reading ends -> the earliest valid start there
    for match in _LOOSE_NUMERIC.finditer(text):
        if value := _date(_number(match[4]), _number(match[3]), _number(match[2])):
            by_end.setdefault(match.end(1), (match.start(1), value))
    for match in _LOOSE_WORD.finditer(text):
        month = _MONTHS.get(name_key(match[3]))
        if month and (value := _date(_number(match[4]), month, _number(match[2]))):
            by_end.setdefault(match.end(1), (match.start(1), value))
    ordered: list[date] = []
    for _, value in sorted(by_end.values(), key=lambda pair: pair[0]):
        if value not in ordered:
            ordered.append(value)
    return ordered


@dataclass(frozen=True)
class Reading:
    """Where a name was read: which place and line, which words, and how it was written there."""

    place: str
    line: int
    start: int
    end: int
    text: str
    exact: bool
    after_title: bool

    def within(self, other: Reading) -> bool:
        """True when `other` is a longer reading covering this one (Lisle inside Lisle-Lane)."""
        return (
            (self.place, self.line) == (other.place, other.line)
            and other.start <= self.start
            and self.end <= other.end
            and other.end - other.start > self.end - self.start
        )


@dataclass
class NameIndex:
    """Every run of up to ``MAX_PIECES`` words of some text, by folded key, with the dates read on each line."""

    readings: dict[str, list[tuple[str, Reading]]] = field(default_factory=dict)
    line_dates: dict[tuple[str, int], set[date]] = field(default_factory=dict)

    def add(self, place: str, text: str, *, strict_dates: Callable[[str], list[date]]) -> None:
        for number, line in enumerate(text.splitlines()):
            self.line_dates.setdefault((place, number), set()).update(
                set(find_dates_tolerant(line)) | set(strict_dates(line))
            )
            pieces: list[str] = []
            for token in _WORDISH.findall(line):
                for part in re.split(r"-+", token):
                    pieces += [p for chunk in _CAMEL.split(part) if (p := chunk.strip(".,'`’‘"))]
            for start in range(len(pieces)):
                after_title = start > 0 and plain_key(pieces[start - 1]) in _TITLES
                for end in range(start + 1, min(start + MAX_PIECES, len(pieces)) + 1):
                    words = pieces[start:end]
                    if not any(char.isalpha() for char in words[0]):
                        break
                    joined = "".join(words)
                    reading = Reading(place, number, start, end, " ".join(words), False, after_title)
                    self.readings.setdefault(name_key(joined), []).append((plain_key(joined), reading))

    def find(self, name: str) -> list[Reading]:
        """Where `name` was read, exactly or through OCR's confusions; whole words only."""
        exact = plain_key(name)
        if not exact:
            return []
        return [
            Reading(r.place, r.line, r.start, r.end, r.text, written == exact, r.after_title)
            for written, r in self.readings.get(name_key(name), [])
        ]

    def dates_on(self, reading: Reading) -> set[date]:
        return self.line_dates.get((reading.place, reading.line), set())
