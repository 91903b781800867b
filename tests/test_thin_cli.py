"""The CLI stays thin (STYLE.md "Shape", issue 17): each command parses, calls ONE action, formats.

Read from the source with ``ast``, for every command function in ``generator/cli/``
(and the helpers of its module or of ``base`` that it calls, however deep):

- it uses at most one function of ``actions`` (a second one means the command
  orchestrates: the composition belongs in an action);
- its module imports from the package only ``actions``, the errors, the
  formatting helpers (see ALLOWED), never the domain,
  the renderer, the page writer or the edge.
"""

import ast
import os
import pty
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
from conftest import PAYLINK
from edgeserver import clean_env, free_port, request, running_server
from paylink.cli import cli
from sitepages import insert_entry

CLI = Path(__file__).parent.parent / "generator" / "cli"

# What a command module may import from the package, and why.
ALLOWED = {
    "actions": "the one action a command calls (and Workspace, the site a command works on)",
    "errors": "PaylinkError and quoted(): turning a refusal into one Error: line",
    "money": "format_money / major_string: writing an amount for people (base.Context.money)",
    "model": "state_of: writing a balance's state in a result document",
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


# --- what moved behind the actions still reaches the owner -------------------------------------
# The commands below once composed these steps themselves; each test breaks if its action stops
# doing a step (see the report of issue 17 item 4 for the mutation each one caught).


def run_on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal (as an owner at a shell); return its status and output."""
    main, child = pty.openpty()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=child, stderr=child, env=env, close_fds=True)
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    return process.wait(timeout=60), output.decode("utf-8", errors="replace")


def customer_with_link(paylink, name: str = "Jane Doe", charge: str = "10.00") -> int:
    customer_id = paylink.json("customer", "add", name)["id"]
    paylink.ok("charge", str(customer_id), charge, "Drain repair")
    paylink.ok("link", "generate", str(customer_id))
    return customer_id


def test_build_full_on_a_terminal_shows_its_progress(site, paylink):
    for name in ("Ann", "Ben", "Cy"):
        customer_with_link(paylink, name)
    status, output = run_on_a_terminal([PAYLINK, "--site", str(site), "build", "--full"], clean_env())
    assert status == 0, output
    assert "Writing pages" in output and "100%" in output, output
    assert "Wrote 3 pages, removed 0." in output


def test_link_share_on_a_terminal_draws_the_qr_code_and_piped_does_not(site, paylink):
    customer_id = customer_with_link(paylink)
    status, output = run_on_a_terminal([PAYLINK, "--site", str(site), "link", "share", str(customer_id)], clean_env())
    assert status == 0, output
    assert "Text message:" in output
    assert "█" in output and "▀" in output  # the QR code, in block characters
    piped = paylink.ok("link", "share", str(customer_id)).stdout
    assert "Text message:" in piped and "█" not in piped


def test_serve_builds_first_then_answers_the_links(site, paylink, tmp_path):
    customer_id = customer_with_link(paylink)
    insert_entry(site, customer_id, 2_500, "Another program's charge")  # only a build puts it on the page
    url = paylink.json("link", "show", str(customer_id))["url"]
    port = free_port()
    argv = [PAYLINK, "--site", str(site), "serve", "--port", str(port)]
    with running_server(argv, port, tmp_path / "serve.log", clean_env()) as server:
        response = request(port, urlsplit(url).path)
        log = server.log()
    assert response.status == 200
    assert "$35.00" in response.body.decode()  # 10.00 + 25.00: built before serving
    assert f"Serving {site / 'build'} on http://127.0.0.1:{port}/ (Ctrl-C to stop)" in log


def test_serve_on_a_port_in_use_says_so_in_one_error_line(site):
    """The edge's CannotServe reaches the owner as one Error: line, through the action's SiteError."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [PAYLINK, "--site", str(site), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
        )
    assert result.returncode == 1
    errors = [line for line in result.stderr.strip().splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr  # (the build ran first and says "Serving ...": as before issue 17)
    assert errors[0].startswith(f"Error: Cannot listen on 127.0.0.1:{port} (")
    assert errors[0].endswith("— stop the other server or pick another port")
    assert "Traceback" not in result.stderr


def test_watch_checks_the_ledger_as_every_command_does_before_watching(site, paylink):
    """actions.watch, the watch act, refuses a ledger in another currency before it starts watching."""
    paylink.ok("customer", "add", "Jane")
    paylink.ok("charge", "1", "12.00", "Work")
    settings = site / "paylink.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace('currency = "USD"', 'currency = "EUR"'))
    result = subprocess.run(
        [PAYLINK, "--site", str(site), "watch"], capture_output=True, text=True, env=clean_env(), timeout=30
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: Currency is EUR in paylink.toml but the ledger's amounts are in USD — put currency back to USD"
    ]
