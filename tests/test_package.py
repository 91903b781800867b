"""What gets installed: one top-level package, ``paylink``, and a stock WSGI server runs the edge by its entry point.

The wheel is built with pip from a copy of the source folders (so no ``build/``
is left in the repository), in pip's isolated build environment as a user's
``pip install .`` would.
"""

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Paylink
from edgeserver import clean_env, free_port, request, running_server
from paylink.tokens import LinkSigner
from sitepages import snapshot_path, token_of

REPO = Path(__file__).resolve().parent.parent
SOURCES = ["generator", "edge", "site_templates", "pyproject.toml", "README.md"]
TEMPLATE_SUFFIXES = {".html", ".css", ".js", ".svg", ".txt"}
GUNICORN = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Iterator[zipfile.ZipFile]:
    """The wheel `pip wheel .` builds (no dependencies), opened."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in SOURCES + [p.name for p in REPO.glob("LICENSE*")]:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        else:
            shutil.copy2(REPO / name, source / name)
    out = work / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "--wheel-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("paylink-*.whl")
    with zipfile.ZipFile(path) as opened:
        yield opened


@pytest.mark.package
def test_the_wheel_installs_one_top_level_package(wheel):
    names = wheel.namelist()
    (dist_info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    assert wheel.read(f"{dist_info}/top_level.txt").decode().split() == ["paylink"]
    assert sorted({n.split("/")[0] for n in names} - {dist_info}) == ["paylink"]
    assert "paylink/__init__.py" in names and "paylink/cli/__init__.py" in names and "paylink/layout.py" in names
    assert "paylink/edge/__init__.py" in names and "paylink/edge/app.py" in names
    shipped = sorted(
        f"paylink/site_templates/{p.relative_to(REPO / 'site_templates').as_posix()}"
        for p in (REPO / "site_templates").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert "paylink/site_templates/page.html" in shipped
    assert "paylink/site_templates/locale/es/LC_MESSAGES/messages.mo" in shipped  # no compile step on install
    assert sorted(n for n in names if n.startswith("paylink/site_templates/")) == shipped
    assert not any(n.startswith(("generator/", "edge/", "site_templates/", "tests/")) for n in names)
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert "paylink = paylink.cli:main" in entry_points


@pytest.mark.skipif(GUNICORN is None, reason="gunicorn is not installed (pip install -e '.[test]')")
def test_gunicorn_serves_a_link_by_the_entry_point(paylink: Paylink, site, tmp_path):
    customer_id = paylink.json("customer", "add", "Jane Doe")["id"]
    paylink.ok("charge", str(customer_id), "12.50", "Drain repair")
    token = token_of(paylink.json("link", "generate", str(customer_id))["url"])
    port = free_port()
    argv = [GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1", "paylink.edge.app:application"]
    env = clean_env(PAYLINK_SITE=str(site))
    # Started outside the repository, so `paylink` can only come from the installed package.
    with running_server(argv, port, tmp_path / "gunicorn.log", env, cwd=tmp_path) as server:
        live = request(server.port, f"/p/{token}")
        assert live.status == 200
        assert live.body == snapshot_path(site, customer_id).read_bytes()
        assert live.headers["cache-control"] == "no-store"
        forged = LinkSigner(["not-this-sites-key"]).sign(token.partition(".")[0])
        assert request(server.port, f"/p/{forged}").status == 404
