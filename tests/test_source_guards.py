"""The source holds none of the constructs that open the usual injection holes.

SQL goes through SQLAlchemy with bound parameters, child processes get argument lists, and
nothing is deserialised, evaluated or templated from data. These checks read the syntax tree
of every module under ``src/alliance`` so that a new module cannot quietly bring one back;
docs/security.md (OWASP ASVS 5) cites them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "alliance"

# Modules that deserialise arbitrary objects or parse XML (entities, XXE): none are needed.
FORBIDDEN_IMPORTS = {"pickle", "cPickle", "dill", "marshal", "shelve", "xml", "lxml", "defusedxml"}
FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_OS_CALLS = {"system", "popen", "execl", "execlp", "execv", "execvp", "spawnl", "spawnv"}
WEAK_HASHES = {"md5", "sha1"}
RAW_SQL_CALLS = {"text", "exec_driver_sql"}
SAFE_LOADER = "_StrictLoader"  # alliance.measures.registry: a yaml.SafeLoader subclass


def _modules(root: Path = SRC) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield str(path.relative_to(root.parent)), ast.parse(path.read_text("utf-8"))


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _receiver(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id
    return ""


def findings(tree: ast.Module) -> list[str]:
    """What in one module breaks the rules above, as ``line: what`` strings."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            for name in names:
                if name.split(".")[0] in FORBIDDEN_IMPORTS:
                    found.append(f"{node.lineno}: imports {name}")
        if not isinstance(node, ast.Call):
            continue
        name, receiver = _called_name(node), _receiver(node)
        if isinstance(node.func, ast.Name) and name in FORBIDDEN_BUILTINS:
            found.append(f"{node.lineno}: calls {name}()")
        if receiver == "os" and name in FORBIDDEN_OS_CALLS:
            found.append(f"{node.lineno}: calls os.{name}()")
        if receiver == "hashlib" and name in WEAK_HASHES:
            found.append(f"{node.lineno}: uses hashlib.{name}")
        for keyword in node.keywords:
            if (
                keyword.arg == "shell"
                and isinstance(keyword.value, ast.Constant)
                and keyword.value.value is True
            ):
                found.append(f"{node.lineno}: runs a shell")
        if name in RAW_SQL_CALLS and node.args:
            sql = node.args[0]
            if not (isinstance(sql, ast.Constant) and isinstance(sql.value, str)):
                found.append(f"{node.lineno}: builds SQL for {name}() from a non-literal")
        if receiver == "yaml" and name in {"load", "unsafe_load", "full_load", "load_all"}:
            loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
            # Only yaml.load with the project's own SafeLoader subclass passes.
            if name != "load" or not (isinstance(loader, ast.Name) and loader.id == SAFE_LOADER):
                found.append(f"{node.lineno}: yaml.{name} without the strict safe loader")
        if name == "Template" or (name == "from_string" and receiver != "webvtt"):
            found.append(f"{node.lineno}: builds a template from a string")
    return found


def test_the_source_has_no_injection_prone_construct() -> None:
    problems = [f"{path}:{line}" for path, tree in _modules() for line in findings(tree)]
    assert problems == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import pickle", "imports pickle"),
        ("from xml.etree import ElementTree", "imports xml.etree"),
        ("eval(data)", "calls eval()"),
        ("import os\nos.system(cmd)", "calls os.system()"),
        ("subprocess.run(cmd, shell=True)", "runs a shell"),
        ("import hashlib\nhashlib.md5(b'x')", "uses hashlib.md5"),
        ("session.execute(text(f'SELECT * FROM t WHERE id = {i}'))", "builds SQL for text()"),
        ("conn.exec_driver_sql('DELETE FROM t WHERE id = ' + i)", "builds SQL for exec_driver"),
        ("yaml.load(text, Loader=yaml.Loader)", "yaml.load without"),
        ("yaml.unsafe_load(text)", "yaml.unsafe_load without"),
        ("env.from_string(user_text)", "builds a template"),
    ],
)
def test_each_rule_notices_what_it_forbids(source: str, expected: str) -> None:
    (problem,) = findings(ast.parse(source))
    assert expected in problem


def test_the_rules_let_the_safe_forms_through() -> None:
    safe = (
        "session.execute(text('SELECT 1 WHERE a = :a'), {'a': a})\n"
        "subprocess.run([path, '--version'], check=True)\n"
        "hashlib.sha256(b'x')\n"
        "yaml.load(text, Loader=_StrictLoader)\n"
        "webvtt.from_string(text)\n"
    )
    assert findings(ast.parse(safe)) == []
