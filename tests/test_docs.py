"""docs/plugins.md keeps up with the hooks (`monmouth.hooks`): every hook has a section with an
example that implements it, every example compiles, and every hook is exercised by some test."""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pluggy
import pytest

from monmouth import hooks
from monmouth.core.plugins import implemented_hooks

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).resolve().parent

HOOKS = sorted(
    name
    for name, function in inspect.getmembers(hooks, inspect.isfunction)
    if getattr(function, f"{hooks.PROJECT}_spec", None) is not None
)


def sections(markdown: str) -> dict[str, str]:
    """Heading title -> the text up to the next heading of the same or a higher level."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str, list[str]]] = []
    fenced = False

    def close(level: int) -> None:
        while stack and stack[-1][0] >= level:
            _, title, lines = stack.pop()
            found[title] = "".join(lines)

    for line in markdown.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#{1,6}) (.+)", line)
        if heading:
            close(len(heading[1]))
            stack.append((len(heading[1]), heading[2].strip(), []))
        for _, _, lines in stack:
            lines.append(line)
    close(1)
    return found


def python_blocks(markdown: str) -> list[tuple[int, str]]:
    """Each ```python block: the line it starts on, and its code."""
    return [
        (markdown.count("\n", 0, m.start()) + 2, m[1])
        for m in re.finditer(r"^```python\n(.*?)^```", markdown, re.S | re.M)
    ]


TEXT = DOCS.read_text()
SECTIONS = sections(TEXT)


def test_the_hooks_are_found() -> None:
    assert {"startup", "route_transaction", "notify_block", "register_commands"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_with_an_example(hook: str) -> None:
    assert hook in SECTIONS, f"docs/plugins.md has no '### {hook}' section"
    assert TEXT.count(f"\n### {hook}\n") == 1
    assert python_blocks(SECTIONS[hook]), f"the '### {hook}' section has no ```python example"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_example_implements_its_hook(hook: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example registers with pluggy against the hookspecs: names and arguments match."""
    (line, code), *_ = python_blocks(SECTIONS[hook])
    module = types.ModuleType(f"plugins_md_{hook}")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # pydantic resolves names there
    exec(compile(code, f"{DOCS}:{line}", "exec"), module.__dict__)
    pm = pluggy.PluginManager(hooks.PROJECT)
    pm.add_hookspecs(hooks)
    pm.register(module)
    implemented = set(implemented_hooks(module))
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            if implemented_hooks(value):
                pm.register(value)  # validates the methods' arguments (self aside)
            implemented |= set(implemented_hooks(value))
    pm.check_pending()
    assert hook in implemented


@pytest.mark.parametrize(
    ("line", "code"), python_blocks(TEXT), ids=[f"line-{n}" for n, _ in python_blocks(TEXT)]
)
def test_every_python_example_compiles(line: int, code: str) -> None:
    compile(code, f"{DOCS}:{line}", "exec")


def test_examples_were_found() -> None:
    assert len(python_blocks(TEXT)) >= len(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_tested(hook: str) -> None:
    pattern = re.compile(rf"\b{hook}\b")
    users = [
        path.relative_to(TESTS)
        for path in sorted(TESTS.rglob("test_*.py"))
        if path.name != "test_docs.py" and pattern.search(path.read_text())
    ]
    assert users, f"no test file under tests/ mentions the hook {hook}"
