"""The owner's day (CONTRACT §1–§2): finding the site, init's refusals, --site anywhere, help,
the loopback warning, the currency lock, the demo's refusal, customer edit/list/show, link list,
and refs matched without regard to case."""

import csv
import io
import json
import os
import subprocess
from contextlib import closing
from pathlib import Path

import click
import pytest
from conftest import Paylink, invoke, make_site, one_error_line
from paylink.cli import cli
from sitepages import customer_names, insert_entry, ledger, read_page, snapshot_path, text_of


@pytest.fixture(autouse=True)
def no_site_environment(monkeypatch):
    monkeypatch.delenv("PAYLINK_SITE", raising=False)
    monkeypatch.delenv("PAYLINK_SECRET_KEY", raising=False)


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root with its bytes and mtime."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- finding the site -------------------------------------------------------------


@pytest.mark.parametrize("sub", ["build", "build/p", "notes/2026"])
def test_a_command_run_in_a_subfolder_finds_the_site(tmp_path, monkeypatch, sub):
    site = make_site(tmp_path / "site")
    (site / sub).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(site / sub)

    result = invoke("customer", "add", "Jane", "--json")

    assert result.exit_code == 0, result.stderr
    assert customer_names(site) == ["Jane"]
    assert not (site / sub / "paylink.toml").exists()


def test_the_console_script_finds_the_site_from_build(tmp_path):
    site = make_site(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k != "PAYLINK_SITE"}
    run = subprocess.run(
        ["paylink", "customer", "add", "Jane", "--json"], cwd=site / "build", env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["name"] == "Jane"
    assert customer_names(site) == ["Jane"]


def test_a_named_site_is_not_searched_upward(tmp_path):
    site = make_site(tmp_path / "site")
    inner = site / "build"
    line = one_error_line(invoke("--site", str(inner), "customer", "list"))
    assert line.startswith(f"Error: No paylink site in {inner}")


@pytest.mark.parametrize("sub", ["", "build", "build/p", "customers/archive"])
def test_init_refuses_inside_a_site_and_writes_nothing(tmp_path, monkeypatch, sub):
    site = make_site(tmp_path / "site")
    target = site / sub if sub else site / "nested"
    if sub:
        target.mkdir(parents=True, exist_ok=True)
    before = tree(site)

    line = one_error_line(invoke("init", str(target), "--name", "Second"))

    assert (
        f"is inside the {'build/ folder' if sub.startswith('build') else 'folder'} of the paylink site {site}" in line
    )
    assert tree(site) == before


def test_init_dot_inside_build_is_refused(tmp_path, monkeypatch):
    """The trap of the issue: run from build/, follow "run `paylink init .`" and publish a key."""
    site = make_site(tmp_path / "site")
    monkeypatch.chdir(site / "build")
    before = tree(site)
    line = one_error_line(invoke("init", ".", "--name", "Second"))
    assert "inside the build/ folder of the paylink site" in line
    assert tree(site) == before
    assert not (site / "build" / "paylink.key").exists()


def test_init_beside_a_site_is_fine(tmp_path):
    make_site(tmp_path / "one")
    make_site(tmp_path / "two")
    assert (tmp_path / "two" / "paylink.toml").is_file()


@pytest.mark.parametrize("form", ["separate", "equals"])
@pytest.mark.parametrize(
    "args",
    [["customer", "add", "Jane"], ["customer", "add", "Jane", "--phone", "555-0101"], ["customer", "list"]],
    ids=["after-argument", "after-option", "after-subcommand"],
)
def test_site_option_after_the_subcommand(tmp_path, monkeypatch, form, args):
    site = make_site(tmp_path / "site")
    monkeypatch.chdir(tmp_path)
    site_args = ["--site", str(site)] if form == "separate" else [f"--site={site}"]
    result = invoke(*args, *site_args, "--json")
    assert result.exit_code == 0, result.stderr
    if args[1] == "add":
        assert customer_names(site) == ["Jane"]


def test_site_option_after_the_subcommand_by_the_console_script(tmp_path):
    site = make_site(tmp_path / "site")
    run = subprocess.run(
        ["paylink", "customer", "add", "Jane", "--site", str(site), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert customer_names(site) == ["Jane"]


def test_a_value_that_reads_like_site_stays_a_value(tmp_path):
    site = make_site(tmp_path / "site")
    paylink = Paylink(site)
    paylink.ok("customer", "add", "Jane")
    paylink.ok("charge", "1", "5", "Work")
    # "--site" is the value of --reason here, not the option.
    voided = paylink.json("void", "1", "--reason", "--site")
    assert voided["entry_id"] == 2
    with closing(ledger(site)) as conn:
        assert conn.execute("SELECT description FROM entries WHERE id = 2").fetchone()[0].endswith("(--site)")


def test_paylink_alone_prints_help_and_exits_0():
    run = subprocess.run(["paylink"], capture_output=True, text=True)
    assert run.returncode == 0
    assert run.stdout.startswith("Usage: paylink")
    assert "Commands:" in run.stdout
    assert "Error" not in run.stdout + run.stderr


def test_a_group_alone_prints_its_help_and_exits_0():
    result = invoke("customer")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ")
    assert "edit" in result.stdout and not result.stderr


def walk(group: click.Group, path=()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


OWN_COMMANDS = [(p, c) for p, c in walk(cli) if p[0] != "import" and p[0] not in ("publish",)]


@pytest.mark.parametrize(("path", "command"), OWN_COMMANDS, ids=[" ".join(p) for p, _ in OWN_COMMANDS])
def test_every_command_help_has_an_example(path, command):
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    at = lines.index("  Example:")
    assert lines[at + 1].strip().startswith("paylink "), result.stdout


# --- the loopback warning ------------------------------------------------------------


def test_link_generate_on_a_loopback_base_url_warns_in_one_line(site, paylink):
    paylink.ok("customer", "add", "Jane")
    result = paylink.ok("link", "generate", "1", "--json")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1 and "base_url" in warnings[0] and "127.0.0.1" in warnings[0]
    assert result.stderr.strip() == warnings[0]
    assert json.loads(result.stdout)["customer_id"] == 1


def test_no_warning_with_a_public_base_url(tmp_path):
    site = make_site(tmp_path / "site", "--base-url", "https://pay.example.com")
    paylink = Paylink(site)
    paylink.ok("customer", "add", "Jane")
    assert paylink.ok("link", "generate", "1").stderr == ""
    assert paylink.ok("link", "share", "1").stderr == ""


def test_the_demo_does_not_warn(tmp_path):
    result = invoke("demo", str(tmp_path / "demo"), "--no-serve")
    assert result.exit_code == 0, result.stderr
    assert "Warning" not in result.stderr


def test_a_failed_link_generate_prints_only_its_error(site, paylink):
    one_error_line(paylink("link", "generate", "999"))


# --- the currency lock ------------------------------------------------------------------


def set_currency(site: Path, code: str) -> None:
    path = site / "paylink.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('currency = "USD"', f'currency = "{code}"').replace('currency = "JPY"', f'currency = "{code}"')
    )


def test_currency_may_change_before_the_first_entry(site, paylink):
    paylink.ok("customer", "add", "Jane")
    set_currency(site, "JPY")
    assert paylink.json("charge", "1", "1200", "Work")["amount"] == "1200"


def test_currency_change_is_refused_once_the_ledger_has_entries(site, paylink):
    paylink.ok("customer", "add", "Jane")
    paylink.ok("charge", "1", "1200.00", "Work")
    set_currency(site, "JPY")
    before = tree(site)

    for args in (["customer", "list"], ["charge", "1", "5", "More"], ["build"], ["customer", "show", "1"]):
        line = one_error_line(paylink(*args))
        assert line == (
            "Error: Currency is JPY in paylink.toml but the ledger's amounts are in USD — put currency back to USD"
        )
    assert tree(site) == before

    set_currency(site, "USD")
    assert paylink.json("customer", "show", "1")["balance"] == "1200.00"


def test_currency_is_recorded_for_entries_written_by_another_program(site, paylink):
    paylink.ok("customer", "add", "Jane")
    insert_entry(site, 1, 500, "x", "2026-01-01T00:00:00Z")
    set_currency(site, "EUR")
    assert "amounts are in USD" in one_error_line(paylink("customer", "list"))


# --- the demo over a real site --------------------------------------------------------


def test_demo_refuses_a_site_it_did_not_make(tmp_path):
    site = make_site(tmp_path / "real")
    Paylink(site).ok("customer", "add", "Jane")
    before = tree(site)

    line = one_error_line(invoke("demo", str(site), "--no-serve"))

    assert "did not make" in line
    assert tree(site) == before
    assert "Test Plumbing" in (site / "paylink.toml").read_text()


def test_demo_reuses_its_own_site(tmp_path):
    first = invoke("demo", str(tmp_path / "demo"), "--no-serve")
    assert first.exit_code == 0, first.stderr
    again = invoke("demo", str(tmp_path / "demo"), "--no-serve")
    assert again.exit_code == 0, again.stderr
    assert first.stdout == again.stdout
    assert len(customer_names(tmp_path / "demo")) == 4


# --- customer add --language and customer edit ----------------------------------------


def test_add_with_a_language(paylink):
    added = paylink.json("customer", "add", "Juana", "--language", "es", "--ref", "JUANA")
    assert added == {"id": 1, "name": "Juana", "email": None, "phone": None, "ref": "JUANA", "language": "es"}
    line = one_error_line(paylink("customer", "add", "X", "--language", "klingon"))
    assert line.startswith("Error: Language 'klingon' is not one paylink has")


def test_edit_changes_only_what_is_given(paylink):
    paylink.ok("customer", "add", "Jane Doe", "--email", "jane@example.com", "--phone", "555-0101", "--ref", "JANE")
    edited = paylink.json("customer", "edit", "jane", "--phone", "555-0199", "--language", "es")
    assert edited == {
        "id": 1,
        "name": "Jane Doe",
        "email": "jane@example.com",
        "phone": "555-0199",
        "ref": "JANE",
        "language": "es",
    }
    assert paylink.json("customer", "show", "JANE")["phone"] == "555-0199"


def test_edit_with_an_empty_value_clears_it(paylink):
    paylink.ok("customer", "add", "Jane Doe", "--email", "jane@example.com", "--phone", "555-0101", "--ref", "JANE")
    edited = paylink.json("customer", "edit", "JANE", "--email", "", "--ref", "", "--phone", "")
    assert edited == {"id": 1, "name": "Jane Doe", "email": None, "phone": None, "ref": None, "language": None}
    with closing(ledger(paylink.site)) as conn:
        assert conn.execute("SELECT email, phone, ref FROM customers").fetchone() == (None, None, None)
    one_error_line(paylink("customer", "show", "JANE"))


def test_edit_rewrites_the_page_before_it_returns(site, paylink):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    paylink.ok("charge", "JANE", "12", "Work")
    paylink.ok("link", "generate", "JANE")
    page = snapshot_path(site, 1)
    assert "Jane Doe" in page.read_text()

    paylink.ok("customer", "edit", "JANE", "--name", "Jane Smith")

    assert "Jane Smith" in page.read_text() and "Jane Doe" not in page.read_text()
    assert text_of(read_page(site, 1), "#balance") == "$12.00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", ""], "Error: The name is empty"),
        (["--email", "nope"], "Error: Email 'nope' is not an email address"),
        (["--ref", "123"], "Error: Ref '123' is all digits"),
        (["--ref", "bob"], "Error: Another customer already has ref 'bob'"),
        (["--language", "xx"], "Error: Language 'xx' is not one paylink has"),
    ],
)
def test_edit_refuses_bad_values_and_changes_nothing(site, paylink, args, message):
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    paylink.ok("customer", "add", "Bob", "--ref", "BOB")
    paylink.ok("link", "generate", "JANE")
    before = tree(site)
    assert one_error_line(paylink("customer", "edit", "JANE", *args)).startswith(message)
    assert tree(site) == before


def test_edit_may_change_the_case_of_its_own_ref(paylink):
    paylink.ok("customer", "add", "Jane", "--ref", "JANE")
    assert paylink.json("customer", "edit", "jane", "--ref", "Jane")["ref"] == "Jane"


def test_edit_without_changes_is_a_usage_error(paylink):
    paylink.ok("customer", "add", "Jane")
    result = paylink("customer", "edit", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "nothing to change" in result.stderr


# --- customer list --owing / --csv, show, link list -----------------------------------------


@pytest.fixture
def three(paylink) -> Paylink:
    """Owes, has a credit, owes nothing."""
    paylink.ok("customer", "add", "Olive Owens", "--ref", "OLIVE", "--email", "olive@example.com", "--language", "es")
    paylink.ok("customer", "add", "Carl Credit", "--phone", "555-0102")
    paylink.ok("customer", "add", "Zed Zero", "--ref", "ZED")
    paylink.ok("charge", "OLIVE", "1200.5", "Work")
    paylink.ok("credit", "2", "10", "Deposit")
    paylink.ok("link", "generate", "OLIVE")
    return paylink


def test_list_owing_only_those_with_an_outstanding_balance(three):
    rows = three.json("customer", "list", "--owing")
    assert [r["id"] for r in rows] == [1]
    assert rows[0]["balance"] == "1200.50" and rows[0]["state"] == "outstanding"
    assert [r["id"] for r in three.json("customer", "list")] == [1, 2, 3]


def test_list_csv_for_mail_merge(three):
    out = three.ok("customer", "list", "--csv").stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["id", "name", "ref", "email", "phone", "language", "balance", "state", "url"]
    url = three.json("link", "show", "OLIVE")["url"]
    assert rows[1] == ["1", "Olive Owens", "OLIVE", "olive@example.com", "", "es", "1200.50", "outstanding", url]
    assert rows[2] == ["2", "Carl Credit", "", "", "555-0102", "", "-10.00", "credit", ""]
    assert rows[3] == ["3", "Zed Zero", "ZED", "", "", "", "0.00", "zero", ""]
    owing = list(csv.reader(io.StringIO(three.ok("customer", "list", "--owing", "--csv").stdout)))
    assert [r[0] for r in owing] == ["id", "1"]


def test_show_gives_email_phone_language_and_entries_newest_first(three):
    shown = three.json("customer", "show", "olive")
    assert shown["email"] == "olive@example.com" and shown["phone"] is None and shown["language"] == "es"
    three.ok("charge", "OLIVE", "1", "Later")
    shown = three.json("customer", "show", "OLIVE")
    assert [e["id"] for e in shown["entries"]] == [3, 1]


def test_link_list_names_every_live_link(three):
    assert three.json("link", "list") == [
        {"customer_id": 1, "name": "Olive Owens", "ref": "OLIVE", "url": three.json("link", "show", "1")["url"]}
    ]
    three.ok("link", "generate", "ZED")
    three.ok("link", "revoke", "OLIVE", "--yes")
    listed = three.json("link", "list")
    assert [(d["customer_id"], d["name"], d["ref"]) for d in listed] == [(3, "Zed Zero", "ZED")]
    assert "Zed Zero" in three.ok("link", "list").stdout


# --- refs without regard to case, and suggestions ------------------------------------------


def test_refs_match_without_regard_to_case(paylink):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    assert paylink.json("charge", "jane", "5", "Work")["customer_id"] == 1
    assert paylink.json("credit", "Jane", "1", "Cash")["customer_id"] == 1
    line = one_error_line(paylink("customer", "add", "Other Jane", "--ref", "jane"))
    assert line.startswith("Error: Another customer already has ref 'jane'")


def test_an_unknown_ref_suggests_the_closest_ref(paylink):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    paylink.ok("customer", "add", "Bob Brown", "--ref", "BOB")
    line = one_error_line(paylink("charge", "jnae", "5", "Work"))
    assert line == "Error: No customer with ref 'jnae' — did you mean JANE (Jane Doe)? See paylink customer list"


def test_an_unknown_ref_suggests_by_name(paylink):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    paylink.ok("customer", "add", "Robert Brown")
    line = one_error_line(paylink("customer", "show", "robert browne"))
    assert (
        line == "Error: No customer with ref 'robert browne' — did you mean 2 (Robert Brown)? See paylink customer list"
    )


def test_nothing_close_gets_no_suggestion(paylink):
    paylink.ok("customer", "add", "Jane Doe", "--ref", "JANE")
    line = one_error_line(paylink("customer", "show", "zzzzzz"))
    assert line == "Error: No customer with ref 'zzzzzz' — see `paylink customer list`"


def test_site_option_alone_prints_help_and_exits_0(site):
    result = invoke("--site", str(site))
    assert result.exit_code == 0 and result.stdout.startswith("Usage: ") and not result.stderr


def test_link_generate_all_names_the_customers(three):
    out = three.ok("link", "generate", "--all").stdout.splitlines()
    assert out[0].split() == ["ID", "NAME", "REF", "LINK"]
    assert [line.split()[:3] for line in out[1:]] == [
        ["1", "Olive", "Owens"],
        ["2", "Carl", "Credit"],
        ["3", "Zed", "Zero"],
    ]
    assert all(three.json("link", "show", str(n))["url"] in out[n] for n in (1, 2, 3))
