"""The library's shape, checked from its source (ast): no long functions, no ambiguous module names.

import-linter (`make lint`) holds the imports; these hold what it cannot see.
"""

import ast
import re
from collections import defaultdict
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "alflow"
MAX_LINES = 60


def long_functions(root: Path = LIBRARY) -> dict[str, int]:
    """`path:name` -> lines of every function or method in alflow/ longer than MAX_LINES, from its
    `def` line to its last (decorators excluded)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    found[f"{path.relative_to(root).as_posix()}:{node.name}"] = lines
    return found


def shared_names(root: Path = LIBRARY) -> dict[str, list[str]]:
    """Module basenames (package `__init__` aside) found in more than one package of alflow/."""
    packages = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        if path.name != "__init__.py":
            packages[path.stem].append(path.parent.relative_to(root).as_posix())
    return {name: where for name, where in packages.items() if len(where) > 1}


def test_no_function_in_the_library_is_longer_than_60_lines():
    new = {name: lines for name, lines in long_functions().items()}
    assert not new, f"functions over {MAX_LINES} lines (split them): {new}"


def test_no_module_name_is_shared_by_two_packages():
    new = {name: where for name, where in shared_names().items()}
    assert not new, f"module names a reader must disambiguate by their folder (rename one): {new}"


def listed_modules(root: Path = LIBRARY) -> dict[str, list[str]]:
    """Package (dotted, from `root`) -> the names of its own modules its docstring mentions, for the
    packages whose docstring mentions more than two: docs/ARCHITECTURE.md is the one module list."""
    found = {}
    for init in sorted(root.rglob("__init__.py")):
        package = init.parent
        words = set(re.findall(r"\w+", ast.get_docstring(ast.parse(init.read_text())) or ""))
        named = sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__" and p.stem in words)
        if len(named) > 2:
            found[package.relative_to(root).as_posix() or "."] = named
    return found


def test_package_docstrings_do_not_list_their_modules():
    listed = {name: modules for name, modules in listed_modules().items()}
    assert not listed, f"package docstrings that list their modules (docs/ARCHITECTURE.md does): {listed}"


def test_the_checks_find_what_they_look_for(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    body = "    x = 1\n" * (MAX_LINES - 1)
    (tmp_path / "a" / "__init__.py").write_text("")
    (tmp_path / "b" / "__init__.py").write_text("")
    # Decorators do not count: 2 decorator lines + a 60-line function pass, a 61-line method does not.
    (tmp_path / "a" / "same.py").write_text(f"@d\n@e\ndef fits():\n{body}")
    (tmp_path / "b" / "same.py").write_text(
        f"class C:\n    def long(self):\n{body.replace('    ', '        ')}        y = 2\n"
    )
    assert long_functions(tmp_path) == {"b/same.py:long": MAX_LINES + 1}
    assert shared_names(tmp_path) == {"same": ["a", "b"]}
    (tmp_path / "a" / "other.py").write_text("")
    (tmp_path / "a" / "third.py").write_text("")
    (tmp_path / "a" / "__init__.py").write_text('"""same: one; other: two; third: three"""')
    assert listed_modules(tmp_path) == {"a": ["other", "same", "third"]}
