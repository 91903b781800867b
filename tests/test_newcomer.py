"""The newcomer's first hour (issue 18, item 8): init needs a name, plain-http links are warned about,
the demo serves where it says, `link share` is honest about the clipboard and about a revoked link,
and `customer list` stays readable with a very long name."""

import json
import re
import signal
import subprocess
import time
import urllib.request

import pytest
from conftest import PAYLINK, Paylink, invoke, make_site, one_error_line
from edgeserver import clean_env, default_sigint, free_port
from sitepages import customer_names


@pytest.fixture(autouse=True)
def no_site_environment(monkeypatch):
    monkeypatch.delenv("PAYLINK_SITE", raising=False)
    monkeypatch.delenv("PAYLINK_SECRET_KEY", raising=False)


# --- init -----------------------------------------------------------------------------


def test_init_without_a_name_is_an_error_and_creates_nothing(tmp_path):
    root = tmp_path / "shop"
    result = invoke("init", str(root))
    line = one_error_line(result)
    assert line.startswith("Error: --name is required")
    assert "My Business" not in result.stdout + result.stderr
    assert not root.exists()


# --- plain http:// links ---------------------------------------------------------------


def test_init_warns_about_a_plain_http_base_url(tmp_path):
    result = invoke("init", str(tmp_path / "shop"), "--name", "Shop", "--base-url", "http://pay.example.com")
    assert result.exit_code == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("Warning: base_url is http://pay.example.com")
    assert "unencrypted" in warnings[0] and "https://" in warnings[0]


@pytest.mark.parametrize("command", [["link", "generate", "1"], ["link", "share", "1"]])
def test_giving_a_plain_http_link_warns_in_one_line(tmp_path, command):
    paylink = Paylink(make_site(tmp_path / "shop", "--base-url", "http://pay.example.com"))
    paylink.ok("customer", "add", "Jane")
    result = paylink.ok(*command, "--json")
    assert json.loads(result.stdout)["url"].startswith("http://pay.example.com/p/")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Warning: ") and "unencrypted" in lines[0]


@pytest.mark.parametrize(
    ("base_url", "unencrypted"),
    [("https://pay.example.com", False), ("http://127.0.0.1:8000", False), ("http://localhost:8000", False)],
)
def test_no_unencrypted_warning_for_https_or_this_machine(tmp_path, base_url, unencrypted):
    made = invoke("init", str(tmp_path / "shop"), "--name", "Shop", "--base-url", base_url)
    assert made.exit_code == 0 and made.stderr == ""
    paylink = Paylink(tmp_path / "shop")
    paylink.ok("customer", "add", "Jane")
    assert ("unencrypted" in paylink.ok("link", "generate", "1").stderr) is unencrypted


# --- the demo serves where it says -------------------------------------------------------


def test_demo_links_use_the_port_and_host_given(tmp_path):
    first = invoke("demo", str(tmp_path / "demo"), "--no-serve", "--port", "8740")
    assert first.exit_code == 0, first.stderr
    urls = re.findall(r"http://\S+", first.stdout)
    assert len(urls) == 4 and all(url.startswith("http://127.0.0.1:8740/p/") for url in urls)
    # Run again on another host and port, it reuses its site and its links follow.
    again = invoke("demo", str(tmp_path / "demo"), "--no-serve", "--host", "localhost", "--port", "8741")
    assert again.exit_code == 0, again.stderr
    moved = re.findall(r"http://\S+", again.stdout)
    assert [url.split("/p/")[1] for url in moved] == [url.split("/p/")[1] for url in urls]
    assert all(url.startswith("http://localhost:8741/p/") for url in moved)
    assert len(customer_names(tmp_path / "demo")) == 4


def test_demo_serves_its_links_on_the_port_given(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [PAYLINK, "demo", str(tmp_path / "demo"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        preexec_fn=default_sigint,
        text=True,
    )
    try:
        urls: list[str] = []
        deadline = time.monotonic() + 60
        while len(urls) < 4 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            urls += re.findall(r"http://\S+", line)
        assert len(urls) == 4, process.stderr.read() if process.poll() is not None else urls
        assert all(url.startswith(f"http://127.0.0.1:{port}/p/") for url in urls)
        status = None
        while status is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(urls[0], timeout=5) as response:
                    status = response.status
            except OSError:
                time.sleep(0.2)
        assert status == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


# --- link share after link revoke ---------------------------------------------------------


def test_share_after_revoke_says_the_old_link_was_turned_off(tmp_path):
    paylink = Paylink(make_site(tmp_path / "shop", "--base-url", "https://pay.example.com"))
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    first = paylink.ok("link", "share", "JANE", "--json")
    assert first.stderr == ""  # a first link: nothing to say
    old = json.loads(first.stdout)["url"]
    paylink.ok("link", "revoke", "JANE", "--yes")

    again = paylink.ok("link", "share", "JANE", "--json")

    new = json.loads(again.stdout)["url"]
    assert new != old
    today = time.strftime("%Y-%m-%d", time.gmtime())  # the site's time zone is UTC
    assert again.stderr.splitlines() == [
        f"Note: Jane Doe's old link was turned off on {today} (link revoke) and stays off; this is a new link."
    ]
    # Said once, by the share that gave the new link; not by later shares, nor after a rotation.
    assert paylink.ok("link", "share", "JANE").stderr == ""
    paylink.ok("link", "rotate", "JANE", "--yes")
    assert paylink.ok("link", "share", "JANE").stderr == ""


# --- customer list with a very long name ----------------------------------------------------


def test_customer_list_caps_the_name_column(tmp_path):
    paylink = Paylink(make_site(tmp_path / "shop", "--base-url", "https://pay.example.com"))
    long_name = ("Maximilian " + "Bartholomew-" * 16 + "Smythe")[:200]
    assert len(long_name) == 200
    paylink.ok("customer", "add", long_name)
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    lines = paylink.ok("customer", "list").stdout.splitlines()
    widths = {len(line) for line in lines}
    assert max(widths) < 90, lines  # ID, 30 for the name, ref, balance, state, "(no link)"
    assert lines[1].split("  ")[1].strip() == long_name[:29] + "…"
    assert "Jane Doe" in lines[2]
    # --json and --csv keep every character.
    assert paylink.json("customer", "list")[0]["name"] == long_name
    assert long_name in paylink.ok("customer", "list", "--csv").stdout


def test_a_name_of_exactly_the_column_width_is_not_cut(tmp_path):
    paylink = Paylink(make_site(tmp_path / "shop"))
    name = "N" * 30
    paylink.ok("customer", "add", name)
    out = paylink.ok("customer", "list").stdout
    assert name in out and "…" not in out
