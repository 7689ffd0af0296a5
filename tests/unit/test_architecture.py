"""The package's shape: no import cycles, no test machinery behind ``import topicflow.kafka``,
no oversized files.

The import graph is read from the source with :mod:`ast`; nothing under
``src/topicflow`` is imported by these tests except in a fresh subprocess.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = "topicflow"

#: Loaded by TestKafkaBroker, never by the runtime import (STYLE.md, rule 4).
TEST_MACHINERY = (
    "topicflow.kafka._delivery",
    "topicflow.kafka._instruments",
    "topicflow.kafka._memory",
    "topicflow.kafka._memory_consumer",
    "topicflow.kafka.testing",
    "unittest.mock",
)

MAX_LINES = 500


# --- the import graph --------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """``source`` needs ``target`` to have run: the import at ``path:line`` runs it.

    ``via`` is set when ``target`` is a package ``__init__`` that runs only because the
    import names one of its submodules, ``via``.
    """

    source: str
    target: str
    path: Path
    line: int
    via: str | None = None

    def describe(self) -> str:
        try:
            where = self.path.relative_to(ROOT)
        except ValueError:
            where = self.path
        note = f"  (runs the package __init__ while importing {self.via})" if self.via else ""
        return f"{self.source} -> {self.target}  {where}:{self.line}{note}"


def find_modules(src: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``src``: dotted name -> file (``a/__init__.py``
    is ``a``)."""
    modules = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str, path: Path, modules: Mapping[str, Path]) -> None:
        self.module = module
        self.path = path
        self.modules = modules
        self.edges: list[Edge] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            # Only type checkers run the body; the ``else:`` branch runs at import.
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node.module, node.level)
        if base is None:
            return
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.modules else base, node.lineno)

    def _absolute(self, name: str | None, level: int) -> str | None:
        if level == 0:
            return name
        is_package = self.path.name == "__init__.py"
        parts = self.module.split(".") if is_package else self.module.split(".")[:-1]
        if level - 1 >= len(parts):
            return None  # beyond the top package: not ours
        parts = parts[: len(parts) - (level - 1)]
        return ".".join([*parts, name] if name else parts)

    def _add(self, target: str, line: int) -> None:
        if target not in self.modules:
            return  # another distribution, or a name that does not resolve to a file
        self.edges.append(Edge(self.module, target, self.path, line))
        # Importing a.b.c runs a/__init__ and a/b/__init__ first; those of our own
        # ancestors are running already, so they add no dependency.
        parts = target.split(".")
        for end in range(1, len(parts)):
            parent = ".".join(parts[:end])
            if self.module != parent and not self.module.startswith(parent + "."):
                self.edges.append(Edge(self.module, parent, self.path, line, via=target))


def import_edges(src: Path, package: str) -> list[Edge]:
    """Every import of ``package`` by its own modules, by the rule that
    :func:`test_no_import_cycles` states."""
    modules = find_modules(src, package)
    edges = []
    for module, path in modules.items():
        collector = _ImportCollector(module, path, modules)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        edges.extend(collector.edges)
    return edges


# --- cycles ------------------------------------------------------------------------------------


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively; each one sorted, in finish order."""
    successors = {node: sorted(set(targets)) for node, targets in graph.items()}
    for targets in list(successors.values()):
        for target in targets:
            successors.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in sorted(successors):
        if root in index:
            continue
        enter(root)
        work = [(root, iter(successors[root]))]
        while work:
            node, pending = work[-1]
            for child in pending:
                if child not in index:
                    enter(child)
                    work.append((child, iter(successors[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Cycles as ``[a, b, ..., a]``: for each edge inside a strongly connected component,
    the shortest cycle through it (so every edge that takes part in a cycle is shown),
    without repeats, each starting at its smallest module."""
    successors = {node: sorted(set(targets)) for node, targets in graph.items()}
    found: list[list[str]] = []
    for component in strongly_connected(successors):
        members = set(component)
        if len(component) == 1 and component[0] not in successors.get(component[0], ()):
            continue
        for source in component:
            for target in successors.get(source, ()):
                if target not in members:
                    continue
                path = _shortest_path(successors, target, source, members)
                ring = [source, *path]  # source -> target -> ... -> source
                start = ring.index(min(ring[:-1]))
                ring = ring[start:-1] + ring[:start] + [ring[start]]
                if ring not in found:
                    found.append(ring)
    return sorted(found)


def _shortest_path(
    successors: Mapping[str, Sequence[str]], start: str, goal: str, within: set[str]
) -> list[str]:
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            break
        for child in successors.get(node, ()):
            if child in within and child not in came_from:
                came_from[child] = node
                queue.append(child)
    path = [goal]
    while path[-1] != start:
        previous = came_from[path[-1]]
        assert previous is not None
        path.append(previous)
    return path[::-1]


def describe_cycles(edges: Sequence[Edge]) -> tuple[list[list[str]], str]:
    """The cycles among ``edges``, and a report: for each group of modules that import
    each other, its cycles, each import with its file and line."""
    first: dict[tuple[str, str], Edge] = {}
    for edge in sorted(edges, key=lambda e: (e.via is not None, e.line)):
        first.setdefault((edge.source, edge.target), edge)  # an explicit import if any
    graph: dict[str, set[str]] = {}
    for source, target in first:
        graph.setdefault(source, set()).add(target)
    found = cycles(graph)
    lines = []
    number = 0
    for component in strongly_connected(graph):
        members = set(component)
        own = [ring for ring in found if ring[0] in members]
        if not own:
            continue
        lines.append(f"{len(component)} module(s) importing each other: {', '.join(component)}")
        for ring in own:
            number += 1
            lines.append(f"  cycle {number}: {' -> '.join(ring)}")
            lines.extend(f"      {first[pair].describe()}" for pair in itertools.pairwise(ring))
    return found, "\n".join(lines)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {
        "a": ["b"],
        "b": ["c"],
        "c": ["a", "d"],  # a -> b -> c -> a, and a way out to d
        "d": ["e"],
        "e": ["d"],  # d <-> e, a second component
        "f": ["f"],  # a module importing itself
        "g": ["a"],  # leads into a cycle, takes no part in one
    }
    assert strongly_connected(graph) == [["d", "e"], ["a", "b", "c"], ["f"], ["g"]]
    assert cycles(graph) == [["a", "b", "c", "a"], ["d", "e", "d"], ["f", "f"]]
    assert cycles({"a": ["b"], "b": ["c"], "c": []}) == []


def test_the_import_collector_applies_the_rule(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "from pkg.a import A\n",
        "pkg/a.py": """\
            from typing import TYPE_CHECKING, Any
            import typing
            if TYPE_CHECKING:
                from pkg import b
            else:
                from pkg import c
            if typing.TYPE_CHECKING:
                import pkg.b
            try:
                from .sub import d
            except ImportError:
                pass
            def f():
                from pkg.sub.d import X
            class K:
                import os
            A = 1
            """,
        "pkg/b.py": "",
        "pkg/c.py": "from . import a\nfrom pkg import A\n",
        "pkg/sub/__init__.py": "from . import d\n",
        "pkg/sub/d.py": "from ..c import C\nfrom . import nothing_here\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    found = {(e.source, e.target, e.line, e.via) for e in import_edges(tmp_path, "pkg")}
    assert found == {
        ("pkg", "pkg.a", 1, None),
        ("pkg.a", "pkg.c", 6, None),
        ("pkg.a", "pkg.sub.d", 10, None),
        ("pkg.a", "pkg.sub", 10, "pkg.sub.d"),
        ("pkg.a", "pkg.sub.d", 14, None),
        ("pkg.a", "pkg.sub", 14, "pkg.sub.d"),
        ("pkg.c", "pkg.a", 1, None),
        ("pkg.c", "pkg", 2, None),
        ("pkg.sub", "pkg.sub.d", 1, None),
        ("pkg.sub.d", "pkg.c", 1, None),
        ("pkg.sub.d", "pkg.sub", 2, None),
    }


def test_no_import_cycles() -> None:
    """No module of topicflow depends on itself through others (nor imports itself).

    M depends on N when running M (or calling a function of M) runs N first. The rule,
    for a module M:

    * Every ``import``/``from ... import`` counts, at any depth (module level,
      functions, classes, ``try`` blocks), except in the body of an
      ``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:`` block (its ``else:`` counts).
      Imports inside functions count because they still must not lead back to M: moving
      an import into a function hides a cycle, it does not remove it.
    * ``from a import b`` is an edge to ``a.b`` when that is a module or package,
      else to ``a``; relative imports are resolved against M's package.
    * Importing ``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py``: an edge
      to each of those, except to M's own ancestor packages (they are already running
      when M runs, so M does not depend on them through that import). A ``from a import
      name`` written inside package ``a`` is still an edge to ``a``: it needs ``a``'s
      ``__init__`` to have run past the definition of ``name``.

    Each group of modules that depend on each other (a strongly connected component of
    more than one module, or a module with an edge to itself) fails the test, with a
    cycle through each of its edges.
    """
    edges = import_edges(SRC, PACKAGE)
    assert edges, f"no imports found under {SRC / PACKAGE}: the test would check nothing"
    found, report = describe_cycles(edges)
    if found:
        pytest.fail(
            f"{len(found)} import cycle(s) in src/{PACKAGE}. Each indented line is one import; "
            "break each cycle by moving what both sides need into a module lower down "
            "(imports inside functions count too; only `if TYPE_CHECKING:` imports are "
            "exempt):\n" + report,
            pytrace=False,
        )


# --- what `import topicflow.kafka` loads -------------------------------------------------------

#: Runs in a fresh interpreter; records, for each watched module, which modules were
#: executing when it was first looked up, so a failure shows the chain that loaded it.
_PROBE = r"""
import json, sys, traceback

watched = json.loads(sys.argv[1])
chains = {}

class Recorder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in watched and name not in chains:
            chain, frame = [], sys._getframe(1)
            while frame is not None:
                module = frame.f_globals.get("__name__", "?")
                if not frame.f_code.co_filename.startswith("<frozen") and module != "__main__":
                    if not chain or chain[-1] != module:
                        chain.append(module)
                frame = frame.f_back
            chains[name] = chain[::-1]
        return None

sys.meta_path.insert(0, Recorder)
report = {}
steps = {
    "import topicflow": "import topicflow",
    "import topicflow.kafka": "import topicflow.kafka",
    "from topicflow.kafka import TestKafkaBroker": (
        "from topicflow.kafka import TestKafkaBroker\n"
        "testing = sys.modules.get('topicflow.kafka.testing')\n"
        "report['TestKafkaBroker'] = {\n"
        "    'is a class': isinstance(TestKafkaBroker, type),\n"
        "    'from testing': getattr(testing, 'TestKafkaBroker', None) is TestKafkaBroker,\n"
        "}"
    ),
}
for step, code in steps.items():
    try:
        exec(code)
    except BaseException:
        report[step] = {"error": traceback.format_exc()}
        break
    report[step] = {name: chains.get(name, []) for name in watched if name in sys.modules}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def imports() -> dict[str, dict[str, Any]]:
    """What each step of importing topicflow loads, in one fresh interpreter (each step
    imports what the ones before it did anyway)."""
    # This tree's source first, whatever is installed.
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(TEST_MACHINERY)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"the import probe failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return result


def _loaded_report(step: str, loaded: Mapping[str, list[str]]) -> str:
    lines = [f"`{step}` loads test machinery (STYLE.md, rule 4); load it from TestKafkaBroker:"]
    for name, chain in loaded.items():
        lines.append(f"    {name}  (looked up while running {' -> '.join(chain) or '?'})")
    return "\n".join(lines)


def test_the_watched_modules_exist() -> None:
    modules = find_modules(SRC, PACKAGE)
    missing = [name for name in TEST_MACHINERY if name.startswith(PACKAGE) and name not in modules]
    assert not missing, f"TEST_MACHINERY names modules that no longer exist: {missing}; update it"


@pytest.mark.parametrize("step", ["import topicflow", "import topicflow.kafka"])
def test_the_runtime_import_loads_no_test_machinery(
    imports: dict[str, dict[str, Any]], step: str
) -> None:
    assert step in imports, "an earlier import step failed; see the other tests"
    loaded = imports[step]
    assert "error" not in loaded, f"`{step}` failed:\n{loaded['error']}"
    if loaded:
        pytest.fail(_loaded_report(step, loaded), pytrace=False)


def test_the_test_broker_is_still_importable(imports: dict[str, dict[str, Any]]) -> None:
    step = "from topicflow.kafka import TestKafkaBroker"
    assert step in imports, "an earlier import step failed; see the other tests"
    loaded = imports[step]
    assert "error" not in loaded, f"`{step}` failed:\n{loaded['error']}"
    checks = imports["TestKafkaBroker"]
    assert checks["is a class"], "topicflow.kafka.TestKafkaBroker is not a class"
    assert "topicflow.kafka.testing" in loaded, f"`{step}` did not load topicflow.kafka.testing"
    assert checks["from testing"], (
        "topicflow.kafka.TestKafkaBroker is not topicflow.kafka.testing.TestKafkaBroker"
    )


# --- file size ---------------------------------------------------------------------------------


def test_no_file_is_too_long() -> None:
    counts = {
        path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines())
        for path in find_modules(SRC, PACKAGE).values()
    }
    assert counts, f"no modules found under {SRC / PACKAGE}"
    long = {path: count for path, count in sorted(counts.items()) if count > MAX_LINES}
    if long:
        pytest.fail(
            f"{len(long)} file(s) over {MAX_LINES} lines in src/{PACKAGE}; split them:\n"
            + "\n".join(f"    {path}: {count} lines" for path, count in long.items()),
            pytrace=False,
        )


def test_only_the_transport_imports_the_kafka_client() -> None:
    # The client boundary: its errors are translated and its records re-exported there.
    importers = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "aiokafka" or name.startswith("aiokafka.") for name in names):
                importers.append(str(path.relative_to(SRC)))
    assert sorted(set(importers)) == ["topicflow/kafka/_transport.py"]
