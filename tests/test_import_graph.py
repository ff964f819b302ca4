"""The import graph of the project's packages: no circles, and the dependency rules
docs/ARCHITECTURE.md states are the ones the code follows.

Imports inside functions count: hiding an import in a function does not untie a knot, it only
postpones it to run time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("blurfuse", "features", "fusion", "train", "web", "analysis", "bench")
SUB_UNITS = ("train.data", "train.experiments")  # sub-packages with rules of their own


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def _target(modules: dict[str, Path], importer: str, node: ast.AST, alias: str) -> str | None:
    """The project module an import statement names (the longest existing prefix), or None."""
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = importer.split(".")
            if modules[importer].name != "__init__.py":
                parts = parts[:-1]
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        candidates = [f"{base}.{alias}", base]
    else:
        candidates = [alias]
    for name in candidates:
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    target = _target(modules, name, node, alias.name)
                    if target is not None and target != name:
                        graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def unit(module: str) -> str:
    for sub in SUB_UNITS:
        if module == sub or module.startswith(sub + "."):
            return sub
    return module.split(".")[0]


def documented_rules() -> dict[str, set[str]]:
    """The 'may import' table of docs/ARCHITECTURE.md: {unit: units it may import}; `*` = any."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Dependency rules", 1)[1].split("\n## ", 1)[0]
    rules = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"`[a-z_.]+`", cells[0]):
            rules[cells[0].strip("`")] = set(re.findall(r"`([a-z_.*]+)`", cells[1]))
    return rules


def test_no_import_circle_between_project_modules():
    assert find_cycle(import_graph()) is None, f"import circle: {' -> '.join(find_cycle(import_graph()) or [])}"


def test_the_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_package_has_a_documented_rule():
    rules = documented_rules()
    units = {unit(m) for m in project_modules()}
    assert units <= set(rules), f"packages without a rule in docs/ARCHITECTURE.md: {sorted(units - set(rules))}"


def test_imports_follow_the_documented_dependency_rules():
    rules = documented_rules()
    broken = sorted(
        f"{importer} imports {target}"
        for importer, targets in import_graph().items()
        for target in targets
        if unit(target) != unit(importer) and "*" not in rules[unit(importer)] and unit(target) not in rules[unit(importer)]
    )
    assert not broken, "imports the rules in docs/ARCHITECTURE.md forbid:\n" + "\n".join(broken)


@pytest.mark.parametrize("unit_name, forbidden", [("analysis", "train"), ("web", "train"), ("fusion", "train")])
def test_the_rules_keep_evaluation_serving_and_the_model_apart_from_training(unit_name, forbidden):
    assert forbidden not in documented_rules()[unit_name]


def test_no_file_cites_a_design_document_outside_the_repository():
    suffixes = {".py", ".md", ".cfg", ".toml", ".html"}
    citing = [str(p.relative_to(ROOT)) for package in (*PACKAGES, "tests", "docs") for p in (ROOT / package).rglob("*")
              if p.suffix in suffixes and p.name != Path(__file__).name and "DESIGN.md" in p.read_text(errors="ignore")]
    citing += [name for name in ("README.md", "Makefile") if "DESIGN.md" in (ROOT / name).read_text()]
    assert not citing, f"these files cite DESIGN.md, which is not in the repository: {citing}"
