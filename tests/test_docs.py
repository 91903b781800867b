"""Docs that cannot drift: every command has help text and is in the README."""

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from paylink.cli import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and subcommand under the group, as (path, command)."""
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found.extend(walk(command, (*path, name)))
    return found


COMMANDS = walk(cli)
LEAVES = [(path, command) for path, command in COMMANDS if not isinstance(command, click.Group)]


def test_the_walk_finds_the_contract_commands():
    names = {" ".join(path) for path, _ in LEAVES}
    assert {
        "init",
        "customer add",
        "customer list",
        "customer show",
        "customer remove",
        "customer merge",
        "charge",
        "credit",
        "void",
        "link generate",
        "link show",
        "link rotate",
        "link revoke",
        "import customers",
        "import entries",
        "build",
        "watch",
        "serve",
        "demo",
    } <= names


def test_the_group_has_help():
    assert (cli.help or "").strip()
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in cli.commands:
        assert name in result.stdout


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_text(path, command):
    assert (command.help or "").strip(), f"paylink {' '.join(path)} has no docstring"
    assert command.get_short_help_str().strip()
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"paylink {' '.join(path)} {param.opts[0]} has no help"
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="paylink")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Usage: paylink {' '.join(path)}")
    first_line = " ".join(command.help.strip().splitlines()[0].split())
    assert first_line in " ".join(result.stdout.split())  # click rewraps long lines


def test_the_readme_exists():
    assert README.is_file(), f"{README} is missing"


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_is_in_the_readme(path, command):
    assert README.is_file(), f"{README} is missing"
    assert f"paylink {' '.join(path)}" in README.read_text(encoding="utf-8")


def test_the_readme_starts_with_getting_and_installing_paylink():
    """A non-programmer reads the top: how to get the files, one install command, the demo, the tests."""
    text = README.read_text(encoding="utf-8")
    top = text[: text.index("## For the business")]
    assert "git clone <the repository URL your host gives you>" in top and "ZIP" in top
    install = "python3 -m venv .venv && .venv/bin/pip install -q . && source .venv/bin/activate"
    demo = "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/paylink demo"
    assert install in top and demo in top and "./scripts/test" in top
    assert top.index(install) < top.index(demo)


def test_the_readme_has_a_go_live_path_in_order():
    text = README.read_text(encoding="utf-8")
    go_live = text[text.index("## Go live") : text.index("## Run the tests")]
    steps = ["paylink init", "paylink customer add", "paylink charge", "paylink link share", "paylink serve"]
    positions = [go_live.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "CDN" in go_live and "--name" in go_live
