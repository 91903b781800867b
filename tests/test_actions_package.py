"""The actions package: every act of its modules is reached as ``paylink.actions.<name>``, and a command
loads only the modules of the acts it runs (issue 17: a no-op build's start-up time)."""

import ast
import subprocess
import sys
from pathlib import Path

import paylink.actions as actions

PACKAGE = Path(__file__).parent.parent / "generator" / "actions"


def public_names(path: Path) -> set[str]:
    """The public functions, classes and aliases a module of the package defines."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_") and not n.isupper()}


def test_every_act_is_named_with_its_module():
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem in ("__init__", "workspace"):
            continue
        assert set(actions.MODULES[path.stem]) == public_names(path), path.name
    assert set(actions.MODULES) == {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "workspace"}


def test_every_name_resolves_to_its_module():
    for module, names in actions.MODULES.items():
        for name in names:
            value = getattr(actions, name)
            assert getattr(value, "__module__", f"paylink.actions.{module}") in (
                f"paylink.actions.{module}",
                "collections.abc",  # an alias such as Confirm = Callable[...]
            ), name
    assert {"Workspace", "keeping_pages_current", "post_entry", "build"} <= set(dir(actions))


def test_an_unknown_name_is_an_attribute_error():
    try:
        actions.no_such_act  # noqa: B018
    except AttributeError as exc:
        assert "no_such_act" in str(exc)
    else:
        raise AssertionError("actions.no_such_act resolved")


def test_importing_the_package_loads_only_the_workspace():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, paylink.actions; print(sorted(m for m in sys.modules if 'actions' in m))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "['paylink.actions', 'paylink.actions.workspace']"
