"""`paylink link share` (CONTRACT §2): the link, a ready text and email, sms:/mailto: links, QR codes, --copy."""

import base64
import fcntl
import io
import json
import os
import select
import subprocess
import termios
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from conftest import Paylink, make_site
from sitepages import all_snapshots, snapshot_path

PUBLIC = "https://pay.example.com"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site", "--base-url", PUBLIC, "--phone", "555-0100")


@pytest.fixture
def paylink(site: Path) -> Paylink:
    p = Paylink(site)
    p.ok(
        "customer", "add", "Jane Doe", "--ref", "JANE", "--phone", "(555) 010-1234", "--email", "jane+bills@example.com"
    )
    p.ok("customer", "add", "Carl Credit", "--ref", "CARL")
    p.ok("customer", "add", "Zoe Zero", "--ref", "ZOE")
    p.ok("charge", "JANE", "1200.50", "Boiler")
    p.ok("credit", "CARL", "15", "Deposit")
    return p


def test_share_json_fields_and_uris(site, paylink):
    shared = paylink.json("link", "share", "jane")

    assert set(shared) == {"customer_id", "url", "sms", "sms_uri", "email_subject", "email_body", "mailto_uri"}
    assert shared["customer_id"] == 1
    assert shared["url"].startswith(f"{PUBLIC}/p/")
    assert shared["url"] == paylink.json("link", "show", "JANE")["url"]
    # The text and the email name the business and what is owed, and carry the link.
    assert "Test Plumbing" in shared["sms"] and "$1,200.50" in shared["sms"] and shared["url"] in shared["sms"]
    assert "Test Plumbing" in shared["email_subject"]
    assert "$1,200.50" in shared["email_body"] and shared["url"] in shared["email_body"]

    sms = urlsplit(shared["sms_uri"])
    assert sms.scheme == "sms" and sms.path == "5550101234"
    assert shared["sms_uri"].startswith("sms:5550101234?&body=")
    assert unquote(shared["sms_uri"].split("&body=", 1)[1]) == shared["sms"]
    assert " " not in shared["sms_uri"] and "\n" not in shared["sms_uri"]

    mailto = urlsplit(shared["mailto_uri"])
    assert mailto.scheme == "mailto" and unquote(mailto.path) == "jane+bills@example.com"
    query = parse_qs(mailto.query)
    assert query["subject"] == [shared["email_subject"]]
    assert query["body"][0].replace("\r\n", "\n") == shared["email_body"]
    assert "%0D%0A" in shared["mailto_uri"] and " " not in shared["mailto_uri"]


def test_share_without_phone_or_email(paylink):
    shared = paylink.json("link", "share", "ZOE")
    assert shared["sms_uri"].startswith("sms:?&body=")
    assert shared["mailto_uri"].startswith("mailto:?subject=")


@pytest.mark.parametrize(("who", "words"), [("CARL", ["credit", "$15.00"]), ("ZOE", ["nothing"])])
def test_share_says_what_is_owed_or_that_nothing_is(paylink, who, words):
    shared = paylink.json("link", "share", who)
    for word in words:
        assert word in shared["sms"] and word in shared["email_body"]
    assert "$" not in shared["sms"] or who == "CARL"


def test_share_gives_a_link_once_and_keeps_it(site, paylink):
    assert all_snapshots(site) == []
    first = paylink.json("link", "share", "JANE")["url"]
    assert len(all_snapshots(site)) == 1
    assert paylink.json("link", "share", "JANE")["url"] == first
    assert len(all_snapshots(site)) == 1
    # The page was written before share returned.
    assert snapshot_path(site, 1).is_file()


def test_share_text_output(paylink):
    result = paylink.ok("link", "share", "JANE")
    out = result.stdout
    url = paylink.json("link", "show", "JANE")["url"]
    assert out.splitlines()[1] == url
    assert "Text message:" in out and "Subject: " in out and "sms:" in out and "mailto:" in out
    # Not a terminal: no QR drawing, nothing on stderr with a public base_url.
    assert "█" not in out and "▀" not in out
    assert result.stderr == ""


def test_share_on_a_loopback_base_url_warns(tmp_path):
    paylink = Paylink(make_site(tmp_path / "local"))
    paylink.ok("customer", "add", "Jane")
    result = paylink.ok("link", "share", "1", "--json")
    assert [line for line in result.stderr.splitlines()] == [result.stderr.strip()]
    assert result.stderr.startswith("Warning: ") and "base_url" in result.stderr
    assert json.loads(result.stdout)["url"].startswith("http://127.0.0.1:8000/p/")


def test_share_unknown_customer(site, paylink):
    result = paylink.fails("link", "share", "JAEN")
    assert "did you mean JANE (Jane Doe)?" in result.stderr
    assert all_snapshots(site) == []


# --- QR codes ------------------------------------------------------------------------


def decode(image) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def test_qr_png_decodes_to_the_exact_link(tmp_path, paylink):
    image_module = pytest.importorskip("PIL.Image")
    target = tmp_path / "jane.png"
    shared = paylink.json("link", "share", "JANE", "--qr", str(target))
    assert target.read_bytes().startswith(b"\x89PNG")
    assert os.stat(target).st_mode & 0o077 == 0
    assert decode(image_module.open(target)) == [shared["url"]]


def test_qr_svg_matrix_is_the_links_qr_code(tmp_path, paylink):
    """The SVG's dark modules are exactly those of a QR code of the link (rebuilt from the SVG's path)."""
    import re

    import segno

    target = tmp_path / "jane.svg"
    url = paylink.json("link", "share", "JANE", "--qr", str(target))["url"]
    svg = target.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    reference = segno.make(url, error="m", micro=False)
    size = len(reference.matrix)
    # segno draws each row of dark modules as a path "M x y h n m dx dy h n ..." at scale 8 with a 4-module border.
    path = re.search(r' d="([^"]+)"', svg).group(1)
    scale = float(re.search(r"scale\(([0-9.]+)\)", svg).group(1)) if "scale(" in svg else 1.0
    drawn = [[0] * (size + 8) for _ in range(size + 8)]
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[0-9.]+)(?:[ ,](-?[0-9.]+))?", path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            for i in range(int(float(a))):
                drawn[int(y)][int(x) + i] = 1
            x += float(a)
    assert scale == 8.0
    ours = [row[4 : 4 + size] for row in drawn[4 : 4 + size]]
    assert ours == [[1 if bit else 0 for bit in row] for row in reference.matrix]


@pytest.mark.browser
def test_qr_svg_decodes_to_the_exact_link_in_chromium(tmp_path, paylink):
    image_module = pytest.importorskip("PIL.Image")
    from playwright.sync_api import sync_playwright

    target = tmp_path / "jane.svg"
    url = paylink.json("link", "share", "JANE", "--qr", str(target))["url"]
    data = base64.b64encode(target.read_bytes()).decode()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.set_content(
                f'<body style="margin:0;background:#fff"><img src="data:image/svg+xml;base64,{data}"></body>'
            )
            png = page.locator("img").screenshot()
        finally:
            browser.close()
    assert decode(image_module.open(io.BytesIO(png))) == [url]


@pytest.mark.parametrize("name", ["jane.jpg", "jane", "jane.svgz"])
def test_qr_other_extensions_are_refused_before_anything(tmp_path, site, paylink, name):
    result = paylink.fails("link", "share", "JANE", "--qr", str(tmp_path / name))
    assert "is not .svg or .png" in result.stderr
    assert all_snapshots(site) == []
    assert not (tmp_path / name).exists()


def test_qr_is_never_written_into_build(site, paylink):
    result = paylink.fails("link", "share", "JANE", "--qr", str(site / "build" / "jane.png"))
    assert "inside build/" in result.stderr
    assert all_snapshots(site) == []
    assert not (site / "build" / "jane.png").exists()


# --- a terminal: the QR drawn, and --copy -------------------------------------------------


def run_in_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run the paylink console script with a new pseudo-terminal as its stdin, stdout and controlling terminal."""
    master, slave = os.openpty()

    def own_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        ["paylink", *args], stdin=slave, stdout=slave, stderr=subprocess.PIPE, cwd=cwd, preexec_fn=own_terminal
    )
    os.close(slave)
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    return process.wait(timeout=30), output.decode("utf-8", "replace"), stderr


def test_on_a_terminal_the_qr_code_is_drawn_and_copy_uses_osc52(site, paylink):
    url = paylink.json("link", "share", "JANE")["url"]
    code, out, err = run_in_terminal(["link", "share", "JANE", "--copy"], site)
    assert code == 0, err
    assert url in out
    assert "▀" in out or "▄" in out
    assert f"\x1b]52;c;{base64.b64encode(url.encode()).decode()}\x07" in out
    # A terminal never confirms OSC 52: paylink says it sent the link, never that it was copied.
    assert "Sent the link to your terminal's clipboard (OSC 52)" in err
    assert "Copied" not in err


def test_copy_without_a_terminal_says_so_and_succeeds(site, paylink):
    run = subprocess.run(
        ["paylink", "link", "share", "JANE", "--copy", "--json"],
        cwd=site,
        capture_output=True,
        text=True,
        start_new_session=True,  # no controlling terminal to copy through
    )
    assert run.returncode == 0, run.stderr
    assert "\x1b]52" not in run.stdout
    assert json.loads(run.stdout)["customer_id"] == 1
    assert "Could not copy: not a terminal" in run.stderr and "Error" not in run.stderr
    assert "Copied" not in run.stderr and "Sent the link" not in run.stderr
