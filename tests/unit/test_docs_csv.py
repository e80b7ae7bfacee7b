"""docs/csv.md against the code: the CSV files and their columns, name by name, in order.

docs/csv.md lists the columns twice: the header line of each file (the "file | columns"
table) and one section per file (``## `hosts.csv` ``) whose table gives each column's
meaning, the column names in backticks in its first cell. Both must equal the columns the
code writes, which it defines in one place: ``FILES`` in tuimon/sinks/csv.py (formerly
tuimon/export/csv.py), ``{file name: (table, columns)}``, built from ``INTERFACE_COLUMNS``,
``HOST_COLUMNS``, ``PROTOCOL_COLUMNS`` and ``CONVERSATION_COLUMNS``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    from tuimon.sinks import csv as csvmod
except ImportError:  # before the move to tuimon/sinks/
    from tuimon.export import csv as csvmod

DOC = Path(__file__).resolve().parents[2] / "docs" / "csv.md"
NAMES = ["interfaces.csv", "hosts.csv", "protocols.csv", "conversations.csv", "counters.csv",
         "alerts.csv", "stations.csv", "sizes.csv", "ports.csv", "pairs.csv", "processes.csv"]

_HEADER_ROW = re.compile(r"^\|\s*`([\w.]+\.csv)`\s*\|\s*`([^`]*)`\s*\|\s*$")
_SECTION = re.compile(r"^##\s+`([\w.]+\.csv)`\s*$")
_TICKS = re.compile(r"`([^`]+)`")


def code_columns() -> dict[str, list[str]]:
    """File name -> the columns the code writes, in order."""
    files = getattr(csvmod, "FILES", None)
    if files is not None:
        return {name: list(columns) for name, (_table, columns) in files.items()}
    return {  # no FILES: the four constants
        "interfaces.csv": list(csvmod.INTERFACE_COLUMNS),
        "hosts.csv": list(csvmod.HOST_COLUMNS),
        "protocols.csv": list(csvmod.PROTOCOL_COLUMNS),
        "conversations.csv": list(csvmod.CONVERSATION_COLUMNS),
    }


def doc_header_lines(text: str) -> dict[str, list[str]]:
    """The "file | columns" table: file name -> the header line's columns."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = _HEADER_ROW.match(line)
        if m:
            assert m.group(1) not in found, f"{m.group(1)} listed twice in the header table"
            found[m.group(1)] = m.group(2).split(",")
    return found


def doc_column_tables(text: str) -> dict[str, list[str]]:
    """Each ``## `X.csv` `` section's "column | meaning" table: file name -> the names in
    the first cells, in order (a cell may name several: `in_packets`, `in_bytes`)."""
    found: dict[str, list[str]] = {}
    current = None
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        if line.startswith("#"):
            m = _SECTION.match(line)
            current = m.group(1) if m else None
            if current is not None:
                assert current not in found, f"two sections for {current}"
                found[current] = []
            continue
        if current is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        first = cells[0]
        if first == "column" or set(first) <= set("-: "):
            continue  # the table's head and its rule
        found[current] += _TICKS.findall(first)
    return found


def mismatch(doc: list[str], code: list[str]) -> str:
    """Empty when equal; else what differs, readably."""
    if doc == code:
        return ""
    missing = [c for c in code if c not in doc]
    extra = [c for c in doc if c not in code]
    parts = []
    if missing:
        parts.append(f"missing from the docs: {missing}")
    if extra:
        parts.append(f"in the docs but not in the code: {extra}")
    if not parts:
        parts.append(f"order differs: docs {doc} vs code {code}")
    return "; ".join(parts)


@pytest.fixture(scope="module")
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_code_writes_the_files_named_here():
    assert sorted(code_columns()) == sorted(NAMES)


def test_the_docs_describe_exactly_the_files_the_code_writes(doc_text):
    assert sorted(doc_header_lines(doc_text)) == sorted(code_columns())
    assert sorted(doc_column_tables(doc_text)) == sorted(code_columns())


@pytest.mark.parametrize("name", NAMES)
def test_header_line_matches_the_code(doc_text, name):
    doc = doc_header_lines(doc_text).get(name)
    assert doc is not None, f"docs/csv.md has no header line for {name}"
    problem = mismatch(doc, code_columns()[name])
    assert not problem, f"{name} header line in docs/csv.md: {problem}"


@pytest.mark.parametrize("name", NAMES)
def test_every_column_has_its_meaning(doc_text, name):
    doc = doc_column_tables(doc_text).get(name)
    assert doc is not None, f"docs/csv.md has no section for {name}"
    assert len(doc) == len(set(doc)), f"{name}: a column is described twice: {doc}"
    problem = mismatch(doc, code_columns()[name])
    assert not problem, f"{name} column table in docs/csv.md: {problem}"


def test_a_renamed_column_is_caught(doc_text):
    """The comparison is not vacuous: a column renamed in the docs is a mismatch."""
    name = "hosts.csv"
    renamed = doc_text.replace("`first_seen`", "`first_seen_at`")
    assert renamed != doc_text
    assert mismatch(doc_column_tables(renamed)[name], code_columns()[name])
    renamed = doc_text.replace(",first_seen,", ",first_seen_at,")
    assert mismatch(doc_header_lines(renamed)[name], code_columns()[name])
