"""Shared fixtures: a real site folder under tmp_path, driven through the real CLI."""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from paylink.cli import cli

# The one way tests find the `paylink` console script: this venv's first, then PATH.
PAYLINK = (
    shutil.which("paylink", path=str(Path(sys.executable).parent))
    or shutil.which("paylink")
    or str(Path(sys.executable).parent / "paylink")  # not installed: the error names where it was looked for
)
UNEXPECTED = "Error: unexpected failure"


# Under pytest-xdist with --dist loadgroup (as scripts/test runs), a test module that makes something
# for several of its tests (a module- or session-scoped fixture: sites built and served, Chromium,
# workerd, moto, a wheel) runs whole in one worker, so that is made once per run, not once per worker;
# every other test goes to whichever worker is free. (pytest 9 names a test by an id that
# pytest-xdist's own xdist_group marks no longer reach, so the grouping is done here.)
SHARED_FIXTURE = re.compile(r"@pytest\.fixture\(scope=\"(module|session)\"")


def modules_with_shared_fixtures() -> set[str]:
    """The names of the test modules that define a module- or session-scoped fixture."""
    return {
        path.stem
        for path in Path(__file__).parent.glob("test_*.py")
        if SHARED_FIXTURE.search(path.read_text(encoding="utf-8"))
    }


def pytest_xdist_make_scheduler(config, log):
    """--dist loadgroup: each module with shared fixtures is one unit of work, every other test its own;
    the largest units are handed out first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    grouped = modules_with_shared_fixtures()

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if Path(module).stem in grouped else super()._split_scope(nodeid)

    return ModuleGroups(config, log)


def invoke(*args: str, env: dict | None = None):
    """Run `paylink ARGS` in-process without --site (for init and site discovery)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def one_error_line(result) -> str:
    """Insist on a non-zero exit with exactly one `Error:` line on stderr, and return that line."""
    assert result.exit_code != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


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
        """Run, insist on a refusal: a non-zero exit through ``sys.exit`` with one `Error:` line on stderr
        that is not the CLI's last-resort report of a crash (a TypeError is a bug, not a refusal);
        return the result."""
        result = self(*args, **kwargs)
        assert result.exit_code != 0, f"paylink {' '.join(args)} unexpectedly succeeded: {result.stdout}"
        assert isinstance(result.exception, SystemExit), f"paylink {' '.join(args)} crashed: {result.exception!r}"
        line = one_error_line(result)
        assert not line.startswith(UNEXPECTED), f"paylink {' '.join(args)} crashed: {line}"
        return result


def make_site(root: Path, *extra: str) -> Path:
    """Create a site with the real `paylink init` and return its folder."""
    result = CliRunner().invoke(cli, ["init", str(root), "--name", "Test Plumbing", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture(scope="session")
def pristine_site(tmp_path_factory) -> Path:
    """A site made once per run with the real `paylink init`; copy it, never change it."""
    return make_site(tmp_path_factory.mktemp("pristine") / "site")


@pytest.fixture
def site(pristine_site: Path, tmp_path: Path) -> Path:
    """A fresh site (USD, en_US, UTC) in tmp_path/site: a copy of the run's pristine site.

    Every copy has the same signing key; a test that needs a site of its own key calls make_site.
    """
    return Path(shutil.copytree(pristine_site, tmp_path / "site", symlinks=True))


@pytest.fixture
def paylink(site: Path) -> Paylink:
    """The CLI bound to the `site` fixture."""
    return Paylink(site)
