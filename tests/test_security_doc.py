"""docs/security.md's ASVS tables cite tests that exist.

The "OWASP ASVS 5" section says, for each requirement it calls met, which tests prove it, as
pytest node ids (``tests/web/test_x.py::test_name``, optionally ``Class::test_name`` or with a
``[parameter id]``). A renamed or deleted test would leave the document claiming a proof that
is gone; this test reads the tables and fails on any citation that does not resolve. Functions
are found in each module's syntax tree (no import, so no test module runs); a parameter id,
which only collection can tell, is checked by collecting that one module in a subprocess.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "security.md"
SECTION = "## OWASP ASVS 5"
MET_HEADING = "### Met, with the tests that prove it"

REQUIREMENT_ID = re.compile(r"^V\d{1,2}\.\d{1,2}\.\d{1,2}$")
# The one row that groups a chapter: "V10.1.1–V10.7.3 (29)".
REQUIREMENT_RANGE = re.compile(
    r"^(V\d{1,2}\.\d{1,2}\.\d{1,2})–(V\d{1,2}\.\d{1,2}\.\d{1,2}) \(\d+\)$"
)
LEVEL = re.compile(r"^L[12](, L[12])?$")
NODE_ID = re.compile(r"`(tests/[\w/]+\.py::[^`\s]+)`")


@dataclass(frozen=True)
class Row:
    table: str
    requirement: str
    level: str
    cells: tuple[str, ...]


def asvs_rows(markdown: str) -> list[Row]:
    """Every table row of the ASVS section, with the heading of the table it is in."""
    start = markdown.index(SECTION)
    end = markdown.find("\n## ", start + len(SECTION))
    section = markdown[start : end if end != -1 else len(markdown)]
    rows: list[Row] = []
    table = ""
    for line in section.splitlines():
        if line.startswith("### "):
            table = line
        elif line.startswith("| ") and table and not line.startswith("| id |"):
            cells = tuple(c.strip() for c in line.strip().strip("|").split(" | "))
            rows.append(Row(table, cells[0], cells[1], cells[2:]))
    return rows


def cited_node_ids(rows: list[Row]) -> list[str]:
    return [node for row in rows if row.table == MET_HEADING for node in proofs(row)]


def proofs(row: Row) -> list[str]:
    return NODE_ID.findall(row.cells[-1])


def _defined_tests(path: Path) -> set[str]:
    """``name`` and ``Class::name`` of every test function defined in a module."""
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return {n for n in names if n.rsplit("::", 1)[-1].startswith("test")}


def _collected(path: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


def missing_tests(node_ids: list[str], root: Path = ROOT) -> list[str]:
    """The node ids among ``node_ids`` that name no test under ``root``."""
    missing: list[str] = []
    collected: dict[str, set[str]] = {}
    for node in node_ids:
        path, _, name = node.partition("::")
        module = root / path
        function = name.split("[", 1)[0]
        if not module.is_file() or function not in _defined_tests(module):
            missing.append(node)
        elif "[" in name:
            if path not in collected:
                collected[path] = _collected(path)
            if node not in collected[path]:
                missing.append(node)
    return missing


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return asvs_rows(DOC.read_text("utf-8"))


def test_every_cited_test_exists(rows: list[Row]) -> None:
    cited = cited_node_ids(rows)
    assert len(cited) > 100  # the table was found and read
    assert missing_tests(cited) == []


def test_every_met_requirement_cites_at_least_one_test(rows: list[Row]) -> None:
    met = [row for row in rows if row.table == MET_HEADING]
    assert met
    assert [row.requirement for row in met if not proofs(row)] == []


def test_every_row_names_one_requirement_with_its_level_once(rows: list[Row]) -> None:
    ids = [row.requirement for row in rows]
    assert [i for i in ids if not (REQUIREMENT_ID.match(i) or REQUIREMENT_RANGE.match(i))] == []
    assert [row.level for row in rows if not LEVEL.match(row.level)] == []
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_the_counts_above_the_tables_match_the_tables(rows: list[Row]) -> None:
    section = DOC.read_text("utf-8").split(SECTION, 1)[1]
    for heading, label in (
        (MET_HEADING, "met, with the tests that prove it"),
        ("### Met in the code, not yet proven by a test", "met in the code, not yet proven"),
        ("### Not met", "not met ("),
    ):
        stated = re.search(rf"^\| {re.escape(label)}.*? \| (\d+) \|$", section, re.MULTILINE)
        assert stated, label
        assert int(stated.group(1)) == sum(1 for row in rows if row.table == heading), label


def test_a_citation_of_a_missing_test_is_reported(tmp_path: Path) -> None:
    module = tmp_path / "tests" / "test_example.py"
    module.parent.mkdir()
    module.write_text(
        "import pytest\n\n"
        "def test_present():\n    pass\n\n"
        "class TestGroup:\n    def test_method(self):\n        pass\n\n"
        "def helper():\n    pass\n"
    )
    cited = [
        "tests/test_example.py::test_present",
        "tests/test_example.py::TestGroup::test_method",
        "tests/test_example.py::test_renamed",
        "tests/test_example.py::helper",
        "tests/test_gone.py::test_present",
    ]
    assert missing_tests(cited, root=tmp_path) == [
        "tests/test_example.py::test_renamed",
        "tests/test_example.py::helper",
        "tests/test_gone.py::test_present",
    ]


def test_the_tables_are_read_from_the_markdown() -> None:
    markdown = (
        "# Security\n\n## OWASP ASVS 5\n\n| | requirements |\n|---|---|\n| met | 1 |\n\n"
        f"{MET_HEADING}\n\n| id | level | what | proven by |\n|---|---|---|---|\n"
        "| V1.2.3 | L1 | escaped | `tests/a.py::test_x`<br>`tests/b.py::test_y[1]` |\n\n"
        "### Not met\n\n| id | level | why |\n|---|---|---|\n| V2.1.2 | L2 | not met: `x` |\n\n"
        "## Next section\n\n| V9.9.9 | L1 | outside | `tests/c.py::test_z` |\n"
    )
    rows = asvs_rows(markdown)
    assert [(r.requirement, r.level) for r in rows] == [("V1.2.3", "L1"), ("V2.1.2", "L2")]
    assert cited_node_ids(rows) == ["tests/a.py::test_x", "tests/b.py::test_y[1]"]
