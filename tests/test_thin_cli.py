"""The CLI stays thin (STYLE.md "Shape", issue 17): each command parses, calls ONE action, formats.

Read from the source with ``ast``, for every command function in ``generator/cli/``
(and the helpers of its module or of ``base`` that it calls, however deep):

- it uses at most one function of ``actions`` (a second one means the command
  orchestrates: the composition belongs in an action);
- its module imports from the package only ``actions``, the errors, the
  formatting helpers, and the watcher (see ALLOWED), never the domain,
  the renderer, the page writer or the edge.
"""

import ast
from pathlib import Path

import click
import pytest
from paylink.cli import cli

CLI = Path(__file__).parent.parent / "generator" / "cli"

# What a command module may import from the package, and why.
ALLOWED = {
    "actions": "the one action a command calls (and Workspace, the site a command works on)",
    "errors": "PaylinkError and quoted(): turning a refusal into one Error: line",
    "money": "format_money / major_string: writing an amount for people (base.Context.money)",
    "model": "state_of: writing a balance's state in a result document",
    "watcher": "the watch act itself: it builds through actions, so actions cannot import it back"
    " (test_import_cycles); `paylink watch` calls watcher.watch and nothing else",
}


def package_imports(tree: ast.AST) -> set[str]:
    """The package modules (``actions``, ``statement``, ``edge.serve``...) a cli module imports, at any depth.

    Siblings in ``cli/`` (``from .base import ...``) are not counted: they are the CLI itself.
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                continue  # from .base import ...
            if node.level >= 2:
                if node.module:
                    found.add(node.module)
                else:  # from .. import qr, actions
                    found.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "paylink":
                found.add(".".join(node.module.split(".")[1:]) or node.names[0].name)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".", 1)[1] for a in node.names if a.name.startswith("paylink."))
    return found


def action_names(tree: ast.AST) -> set[str]:
    """The local names a module binds to things of ``actions`` (``from ..actions import build as build_site``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module == "actions":
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(CLI.glob("*.py"))}


def top_level_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def is_command(func: ast.FunctionDef) -> bool:
    """Decorated with ``@<group>.command(...)`` (``@cli.command()``, ``@customer.command("add")``)."""
    for decorator in func.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "command":
            return True
    return False


def actions_used(module: str, func: ast.FunctionDef, trees: dict[str, ast.Module]) -> set[str]:
    """The actions ``func`` uses, directly or through the helpers it calls in its module or in ``base``."""
    seen: set[tuple[str, str]] = set()
    used: set[str] = set()
    todo = [(module, func)]
    while todo:
        where, node = todo.pop()
        if (where, node.name) in seen:
            continue
        seen.add((where, node.name))
        actions_here = action_names(trees[where])
        helpers = {name: (where, f) for name, f in top_level_functions(trees[where]).items()}
        if where != "base":
            helpers.update({name: ("base", f) for name, f in top_level_functions(trees["base"]).items()})
        for inner in ast.walk(node):
            if isinstance(inner, ast.Name) and inner.id in actions_here:
                used.add(inner.id)
            elif isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name) and inner.value.id == "actions":
                used.add(inner.attr)
            elif isinstance(inner, ast.Name) and inner.id in helpers and inner.id != node.name:
                todo.append(helpers[inner.id])
    return used


def commands() -> list[tuple[str, ast.FunctionDef]]:
    trees = modules()
    return [(name, f) for name, tree in trees.items() for f in top_level_functions(tree).values() if is_command(f)]


def every_click_command(group: click.Group) -> set[str]:
    found: set[str] = set()
    for command in group.commands.values():
        if isinstance(command, click.Group):
            found |= every_click_command(command)
        elif command.callback is not None:
            found.add(command.callback.__name__)  # functools.wraps keeps the command function's name
    return found


def test_the_walk_finds_every_command():
    """Every command `paylink --help` lists is one the checks below read (none hides from them)."""
    found = {func.name for _, func in commands()}
    assert "statement" in found and "link_share" in found and "customer_show" in found
    assert every_click_command(cli) == found


def test_the_walk_sees_actions_through_helpers():
    """posting's commands reach their action through ``_post``: the walk follows helpers."""
    trees = modules()
    charge = top_level_functions(trees["posting"])["charge"]
    assert actions_used("posting", charge, trees) == {"post_as_written"}


@pytest.mark.parametrize(("module", "func"), commands(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_each_command_calls_at_most_one_action(module, func):
    used = actions_used(module, func, modules())
    assert len(used) <= 1, (
        f"cli/{module}.py {func.name} uses {len(used)} actions ({', '.join(sorted(used))}) — put the composition"
        " in one action in generator/actions.py and call that"
    )


@pytest.mark.parametrize("module", sorted(modules()))
def test_command_modules_import_only_actions_errors_and_formatting(module):
    imported = package_imports(modules()[module])
    assert imported <= set(ALLOWED), (
        f"cli/{module}.py imports {sorted(imported - set(ALLOWED))} — a command reaches the domain only"
        " through generator/actions.py"
    )
