"""The package's layout as a rule (docs/design/architecture.md): imports run one way, cli → sync →
api → the shared helpers on top, function-level imports included; no import circle; no module
longer than a newcomer reads in one sitting; a small top level."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tap_helpscout"
WINGS = ("cli", "sync", "api")
# What each wing may import from the others (the shared helpers on top are open to all).
MAY_IMPORT = {"cli": {"cli", "sync", "api"}, "sync": {"sync", "api"}, "api": {"api"}, None: set()}
ENTRY_POINTS = ("tap_helpscout", "tap_helpscout.__main__")      # the command: they call cli
MAX_LINES = 450
MAX_TOP_LEVEL_MODULES = 12


def modules():
    """{dotted name: path} of every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path):
    """Every tap_helpscout module `path` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tap_helpscout")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tap_helpscout"):
            known = modules()
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write tap_helpscout.… in full")
    return found


def wing(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else None


def test_imports_run_one_way_between_the_wings():
    wrong = []
    for name, path in modules().items():
        for target in imports(path):
            if name in ENTRY_POINTS and wing(target) == "cli":
                continue
            if wing(target) is not None and wing(target) not in MAY_IMPORT[wing(name)]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_module_imports_itself_back_through_others():
    graph = {name: {t for t in imports(path) if t in modules() and t != name} for name, path in modules().items()}
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    cycles = []

    def visit(node, trail):
        for target in graph[node]:
            if target in trail:
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in done:
                visit(target, trail + [target])
        done.add(node)

    done = set()
    for name in graph:
        if name not in done:
            visit(name, [name])
    assert not cycles, cycles[:3]


def test_no_module_is_longer_than_a_sitting():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_the_top_level_is_small():
    top = [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(WINGS)


def test_every_reader_kind_has_its_module():
    from tap_helpscout import streams
    from tap_helpscout.sync.engine import READERS
    kinds = {getattr(streams, name) for name in ("SEARCH", "WHOLE", "PER_PARENT", "EMBEDDED", "DATE_WINDOWS",
                                                "KNOWLEDGE_BASE", "DAILY_REPORTS")}
    assert set(READERS) == kinds == {s.reader for s in streams.STREAMS.values()}
    assert all(hasattr(module, "Reader") for module in READERS.values())
