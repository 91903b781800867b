"""Shared fixtures: a real site folder under tmp_path, driven through the real CLI."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from paylink.cli import cli


class Paylink:
    """Runs `paylink --site SITE ...` in-process with click's CliRunner (stdout and stderr apart)."""

    def __init__(self, site: Path):
        self.site = site
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None, site: Path | None = None):
        argv = ["--site", str(site or self.site), *args]
        return self.runner.invoke(cli, argv, input=input, env=env, catch_exceptions=False)

    def ok(self, *args: str, **kwargs):
        """Run and insist on exit status 0; return the result."""
        result = self(*args, **kwargs)
        assert result.exit_code == 0, f"paylink {' '.join(args)} failed: {result.stderr or result.stdout}"
        return result

    def json(self, *args: str, **kwargs):
        """Run with --json, insist on success, return the parsed document."""
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)

    def fails(self, *args: str, **kwargs):
        """Run, insist on a non-zero exit with one `Error:` line on stderr; return the result."""
        result = self(*args, **kwargs)
        assert result.exit_code != 0, f"paylink {' '.join(args)} unexpectedly succeeded: {result.stdout}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        return result


def make_site(root: Path, *extra: str) -> Path:
    """Create a site with the real `paylink init` and return its folder."""
    result = CliRunner().invoke(cli, ["init", str(root), "--name", "Test Plumbing", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A fresh site (USD, en_US, UTC) in tmp_path/site."""
    return make_site(tmp_path / "site")


@pytest.fixture
def paylink(site: Path) -> Paylink:
    """The CLI bound to the `site` fixture."""
    return Paylink(site)
