"""One rule for text (CONTRACT §2): every text field refuses C0 and C1 control characters and DEL,
through the CLI, CSV imports and paylink.toml alike; and an `Error:` line quotes at most 80
characters of any value, however long the value."""

import json
import shutil
from contextlib import closing
from pathlib import Path

import pytest
from conftest import Paylink, make_site, one_error_line
from sitepages import ledger, snapshot_path

# A terminal title escape, NUL, DEL, and C1 controls: NEL and CSI (a one-character ESC [).
CONTROLS = {
    "osc": "\x1b]0;pwned\x07",
    "nul": "\x00",
    "del": "\x7f",
    "nel": "\x85",
    "csi": "\x9b2J",
    "c1-last": "\x9f",
}
HUGE = "x" * 100_000


def counts(site: Path) -> tuple[int, int]:
    with closing(ledger(site)) as conn:
        return (
            conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0],
        )


def error_line(result) -> str:
    """The one `Error:` line of a refusal, which exits 1."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    return one_error_line(result)


def assert_quotes_little(line: str) -> None:
    """The line quotes at most 80 characters of the 100 KB value, and holds no raw control character."""
    assert "x" * 81 not in line
    assert len(line) < 600, len(line)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line), ascii(line)


@pytest.fixture(scope="module")
def pristine_shop(tmp_path_factory) -> Path:
    """Ann Lee with a link, made once per module with the real CLI; copied, never changed."""
    site = make_site(tmp_path_factory.mktemp("hostile") / "site")
    pl = Paylink(site)
    pl.ok("customer", "add", "Ann Lee", "--ref", "ann")
    pl.ok("link", "generate", "ann")
    return site


@pytest.fixture
def shop(pristine_shop: Path, tmp_path: Path) -> Path:
    """A fresh copy of the module's shop for one test."""
    return Path(shutil.copytree(pristine_shop, tmp_path / "site", symlinks=True))


# --- the command line ----------------------------------------------------------------


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize(
    "args",
    [
        ("customer", "add", "Bo{c}Diaz"),
        ("customer", "add", "Bo", "--email", "a{c}@example.test"),
        ("customer", "add", "Bo", "--phone", "555{c}0100"),
        ("customer", "add", "Bo", "--ref", "bo{c}1"),
        ("charge", "ann", "5", "Filter{c}"),
        ("charge", "ann", "5", "Filter", "--key", "k{c}1"),
        ("credit", "ann", "5", "{c}Refund"),
    ],
    ids=["name", "email", "phone", "ref", "description", "key", "credit description"],
)
def test_cli_refuses_control_characters(shop: Path, args: tuple[str, ...], control: str):
    before = counts(shop)
    result = Paylink(shop)(*[a.replace("{c}", control) for a in args])
    line = error_line(result)
    assert "control character" in line or "not an email" in line or "not a phone" in line, line
    assert_quotes_little(line)
    assert counts(shop) == before


def test_the_reported_email_escape_is_refused(shop: Path):
    result = Paylink(shop)("customer", "add", "Eve", "--email", "a\x1b]0;pwned\x07b@example.test")
    assert_quotes_little(error_line(result))
    assert counts(shop)[0] == 1


def test_init_refuses_control_characters(tmp_path: Path):
    pl = Paylink(tmp_path / "unused")
    for option, value in [("--name", "Shop\x9b"), ("--phone", "555\x1b"), ("--email", "a\x85@b.test")]:
        args = ["init", str(tmp_path / "new"), "--name", "Shop"] + [option, value]
        result = pl.runner.invoke(__import__("paylink.cli").cli.cli, args, catch_exceptions=False)
        assert_quotes_little(error_line(result))
        assert not (tmp_path / "new" / "paylink.toml").exists()


def test_void_reason_refuses_control_characters(shop: Path):
    pl = Paylink(shop)
    pl.ok("charge", "ann", "5", "Filter")
    before = counts(shop)
    assert_quotes_little(error_line(pl("void", "1", "--reason", "oops\x1b[2J")))
    assert counts(shop) == before


@pytest.mark.parametrize(
    "args",
    [
        ("charge", HUGE, "5", "Filter"),
        ("charge", "ann", "5", "Filter", "--date", HUGE),
        ("charge", "ann", HUGE, "Filter"),
        ("customer", "add", "Bo", "--ref", HUGE),
        ("customer", "add", "Bo", "--email", HUGE + "@"),
        ("customer", "add", "Bo", "--phone", "5" * 100_000),
        ("customer", "add", HUGE),
        ("charge", "9" * 100_000, "5", "Filter"),
        ("void", HUGE),
        ("void", "9" * 100_000),
        ("customer", HUGE),
    ],
    ids=[
        "customer ref",
        "date",
        "amount",
        "new ref",
        "email",
        "phone",
        "name",
        "customer id",
        "entry id",
        "huge entry id",
        "command",
    ],
)
def test_huge_values_are_quoted_briefly(shop: Path, args: tuple[str, ...]):
    before = counts(shop)
    result = Paylink(shop)(*args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    line = lines[0]
    assert "x" * 81 not in line and "5" * 81 not in line and "9" * 81 not in line
    assert len(line) < 600
    assert counts(shop) == before


# --- CSV imports -------------------------------------------------------------------------


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize("column", ["name", "email", "phone", "ref"])
def test_customer_csv_refuses_control_characters(shop: Path, tmp_path: Path, control: str, column: str):
    row = {"name": "Bo Diaz", "email": "bo@example.test", "phone": "555 0100", "ref": "bo"}
    row[column] = row[column][:2] + control + row[column][2:]
    csv = tmp_path / "customers.csv"
    csv.write_text("name,email,phone,ref\n" + ",".join(row.values()) + "\n", encoding="utf-8", newline="")
    before = counts(shop)
    line = error_line(Paylink(shop)("import", "customers", str(csv)))
    assert "line 2" in line or "line 1" in line, line
    assert_quotes_little(line)
    assert counts(shop) == before


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize("column", ["customer", "kind", "description"])
def test_entries_csv_refuses_control_characters(shop: Path, tmp_path: Path, control: str, column: str):
    row = {"customer": "ann", "kind": "charge", "amount": "5", "description": "Filter", "date": ""}
    row[column] = row[column][:2] + control + row[column][2:]
    csv = tmp_path / "entries.csv"
    csv.write_text(
        "customer,kind,amount,description,date\nann,charge,1,Good row,\n" + ",".join(row.values()) + "\n",
        encoding="utf-8",
        newline="",
    )
    before = counts(shop)
    page = snapshot_path(shop, 1).read_bytes()
    line = error_line(Paylink(shop)("import", "entries", str(csv)))
    assert_quotes_little(line)
    assert counts(shop) == before
    assert snapshot_path(shop, 1).read_bytes() == page


@pytest.mark.parametrize("column", ["customer", "kind", "amount", "description", "date"])
def test_entries_csv_huge_value_is_quoted_briefly(shop: Path, tmp_path: Path, column: str):
    row = {"customer": "ann", "kind": "charge", "amount": "5", "description": "Filter", "date": ""}
    row[column] = HUGE
    csv = tmp_path / "entries.csv"
    csv.write_text("customer,kind,amount,description,date\n" + ",".join(row.values()) + "\n", encoding="utf-8")
    before = counts(shop)
    result = Paylink(shop)("import", "entries", str(csv))
    assert result.exit_code == 1
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("Error: ")
    for line in result.stderr.splitlines():
        assert "x" * 81 not in line and len(line) < 600
    assert counts(shop) == before


# --- paylink.toml ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting", ["name", "phone", "email", "address", "pay_instructions", "timezone", "locale", "currency", "base_url"]
)
@pytest.mark.parametrize("escape", ["\\u001b]0;pwned\\u0007", "\\u009b2J", "\\u0085", "\\u007f"])
def test_settings_refuse_control_characters(shop: Path, setting: str, escape: str):
    path = shop / "paylink.toml"
    good = {
        "name": "Shop",
        "phone": "555 0100",
        "email": "shop@example.test",
        "address": "1 Main St",
        "pay_instructions": "Zelle to pay@example.test",
        "timezone": "UTC",
        "locale": "en_US",
        "currency": "USD",
        "base_url": "https://pay.example.test",
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in good.items() if key != setting]
    value = json.dumps(good[setting])[:-1] + escape + '"'
    lines.append(f"{setting} = {value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    line = error_line(Paylink(shop)("customer", "list"))
    assert setting in line or "control character" in line, line
    assert_quotes_little(line)


@pytest.mark.parametrize("setting", ["name", "locale", "timezone", "currency", "base_url", "email", "phone"])
def test_settings_huge_values_are_quoted_briefly(shop: Path, setting: str):
    path = shop / "paylink.toml"
    text = path.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith(f"{setting} =")]
    kept.append(f'{setting} = "{HUGE}"')
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    line = error_line(Paylink(shop)("customer", "list"))
    assert_quotes_little(line)
