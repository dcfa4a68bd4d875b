"""The package's import structure: no cycle among module-level imports, every module importable
on its own, and the entry point light (a pytest run that collects no canary must not load the
benchmark machinery; benchmarks/import_cost.py measures what it costs).

Imports inside functions are not edges: they are the sanctioned way to load something lazily (or
to break a cycle); nor are imports under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = "pytest_agentbench"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported: not in function bodies, not
    under ``if TYPE_CHECKING:`` (class bodies, try/except and other ifs do run)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.stmt)]
                              + [s for h in children if isinstance(h, ast.ExceptHandler) for s in h.body])

    visit(tree.body)
    return found


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package modules an import statement loads (the deepest one that exists)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:  # relative: from the importing module's package
            package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    targets = set()
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith(PACKAGE + ".") and name != module:
            targets.add(name)
    return targets


def _all_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, inside functions too (a lazy import still makes the modules depend
    on each other), but not under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports: at module level, or (``lazy``) anywhere."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        imports = _all_imports(tree) if lazy else _module_level_imports(tree)
        # A package's own __init__ is loaded with it: importing it is no edge back.
        graph[module] = {t for t in set().union(*(_targets(module, n) for n in imports))
                         if not module.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_is_read_from_real_imports():
    graph = import_graph()
    assert "pytest_agentbench.run.state" in graph["pytest_agentbench.plugin"]
    assert "pytest_agentbench.run.session" in graph["pytest_agentbench.attempt.runner"]
    # function-level and TYPE_CHECKING imports are not edges
    assert "pytest_agentbench.run.startup" not in graph["pytest_agentbench.run.state"]
    assert "pytest_agentbench.run.session" not in graph["pytest_agentbench.run.state"]


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_cycle_even_through_imports_inside_functions():
    """A lazy import keeps the entry point light; it is no licence for two modules to need each
    other. The entry point hands the session's start to state.py instead of state.py importing it."""
    graph = import_graph(lazy=True)
    assert "pytest_agentbench.run.startup" in graph["pytest_agentbench.plugin"]  # lazy edges are read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_module_imports_on_its_own():
    """Each module imported first, in a fresh interpreter state for the package (one subprocess;
    the package's modules are dropped from sys.modules before each import)."""
    script = textwrap.dedent(f"""
        import importlib, json, sys, traceback
        failures = {{}}
        for name in {sorted(MODULES)!r}:
            for loaded in [m for m in sys.modules if m == {PACKAGE!r} or m.startswith({PACKAGE!r} + ".")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception:
                failures[name] = traceback.format_exc(limit=-3)
        print(json.dumps(failures))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=ROOT.parent, check=False)
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failures, "\n".join(f"{name}:\n{text}" for name, text in failures.items())


HEAVY = ["httpx", "pydantic", "jsonschema", "http.server", "sqlite3", "tomlkit",
         "pytest_agentbench.attempt.runner", "pytest_agentbench.run.session", "pytest_agentbench.records.store",
         "pytest_agentbench.schemas.models", "pytest_agentbench.schemas.canary", "pytest_agentbench.run.pycanary",
         "pytest_agentbench.report.json_report", "pytest_agentbench.run.startup"]


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch):
    # Under `pytest -n` this test runs in a worker; the runs it starts are not workers.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


def _loaded_after(pytester: pytest.Pytester, *args: str) -> dict[str, set[str]]:
    """The modules each process (``main``, or the xdist worker id) had loaded at its end."""
    pytester.makeconftest("""
        import json, os, sys
        def pytest_unconfigure(config):
            process = os.environ.get("PYTEST_XDIST_WORKER", "main")
            with open(f"loaded-{process}.json", "w") as handle:
                json.dump(sorted(sys.modules), handle)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout.str()
    return {path.stem.removeprefix("loaded-"): set(json.loads(path.read_text()))
            for path in pytester.path.glob("loaded-*.json")}


def test_entry_point_imports_nothing_heavy():
    script = "import sys, json, pytest_agentbench.plugin; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(done.stdout))
    assert not [name for name in HEAVY if name in loaded]


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "n2"])
def test_a_run_without_canaries_loads_no_benchmark_machinery(pytester, xdist):
    if xdist:
        pytest.importorskip("xdist")
    pytester.makepyfile("import pytest\n@pytest.mark.parametrize('x', [1, 2])\n"
                        "def test_ok(x):\n    assert x\n")
    loaded = _loaded_after(pytester, *(["-n", "2"] if xdist else []))
    assert sorted(loaded) == (["gw0", "gw1", "main"] if xdist else ["main"])
    for process, modules in loaded.items():
        assert "pytest_agentbench.plugin" in modules  # the plugin is there, only idle
        assert not [name for name in HEAVY if name in modules], process


def test_a_run_that_asks_for_agentbench_starts_the_session_at_configure(pytester):
    pytester.makepyfile("def test_ok():\n    assert True\n")
    assert "pytest_agentbench.run.session" in _loaded_after(pytester, "--repeats", "2")["main"]


def test_help_lists_every_option_and_ini_twin(pytester):
    from pytest_agentbench.run.options import _INI_OPTIONS, _ini_defaults

    result = pytester.runpytest("--help")
    text = result.stdout.str()
    for name in _INI_OPTIONS:
        assert f"--agentbench-{name.replace('_', '-')}" in text
    for ini in _ini_defaults():
        assert f"{ini} " in text or f"{ini}(" in text
    for flag in ("--models", "--tier", "--repeats", "--agentbench-fail-under", "--agentbench-sweep"):
        assert flag in text
    # grouped, with metavars that say what a value looks like
    from pytest_agentbench.run.options import GROUPS

    for title in GROUPS.values():
        assert f"{title}:" in text
    assert "--agentbench-max-turns=N" in text and "--agentbench-sandbox=auto|bubblewrap|none" in text
    assert "=AGENTBENCH_" not in text


def test_ini_defaults_match_what_is_registered(pytester):
    from pytest_agentbench.run.options import _ini_defaults

    config = pytester.parseconfig()
    for name, default in _ini_defaults().items():
        assert config.getini(name) == default, name


def test_light_tiers_match_the_canary_format():
    from pytest_agentbench.run.state import TIERS as LIGHT_TIERS
    from pytest_agentbench.schemas.canary import TIERS

    assert tuple(TIERS) == LIGHT_TIERS


FEATURES = ("external", "integrity", "judging", "pipeline", "routing", "tuning")
REGISTRY = f"{PACKAGE}.features"  # the one module that registers the features' plugins


def _feature_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FEATURES else None


def test_the_core_imports_no_feature():
    """The features are internal plugins: they reach an attempt through the plugin's hooks, and
    only features.py imports them (counting imports inside functions)."""
    graph = import_graph(lazy=True)
    assert any(_feature_of(t) for t in graph[REGISTRY])  # the rule is read from real edges
    offenders = {module: sorted(t for t in targets if _feature_of(t))
                 for module, targets in graph.items()
                 if module != REGISTRY and not _feature_of(module)}
    assert not {m: t for m, t in offenders.items() if t}


def test_features_do_not_import_each_other():
    graph = import_graph(lazy=True)
    crossing = {module: sorted(t for t in targets if _feature_of(t) not in (None, _feature_of(module)))
                for module, targets in graph.items() if _feature_of(module)}
    assert not {m: t for m, t in crossing.items() if t}
