"""The compiled page (generator/compiled_page.py) gives Jinja's bytes exactly, or is not used.

Many statements (every state, English and Spanish, voids, more than 20 entries,
no tips, hostile names and descriptions, long amounts, German and Japanese
sites) are rendered by a renderer that compiles its pages and by one that always
renders with Jinja; the two must be byte-identical. A site's own page template
makes the renderer use Jinja, with the override.
"""

import os
import random
from pathlib import Path

import pytest
from conftest import Paylink, make_site
from paylink.model import Entry
from paylink.render import COMPILE_AFTER, Renderer, Statement
from paylink.settings import Settings
from sitepages import build_files, parse, read_page

HOSTILE = [
    'O\'Brien & <Sons> "Ltd"',
    "<script>alert(1)</script>",
    "Zoë Ünal — 山田 太郎 🧾",
    "&amp; already escaped &lt;",
    "%(name)s {{ x }} {% raw %} %s %%",
    "\ue000name\ue001",  # looks like the compiler's own sentinel
    "a" * 300,
]


def jinja_renderer(settings: Settings, override: Path | None = None) -> Renderer:
    renderer = Renderer(settings, override)
    renderer.compiled = False
    return renderer


def compiling_renderer(settings: Settings, override: Path | None = None) -> Renderer:
    renderer = Renderer(settings, override)
    renderer._jinja_pages = COMPILE_AFTER  # compile from the first page on
    return renderer


def random_statements(seed: int, count: int) -> list[Statement]:
    rng = random.Random(seed)
    statements = []
    for n in range(count):
        entries: list[Entry] = []
        next_id = 1000 * (n + 1)
        voids: dict[int, tuple[int, str]] = {}
        for i in range(rng.choice([0, 0, 1, 2, 3, 5, 20, 20, 25])):
            day = 1 + (i * 7 + n) % 28
            month = 1 + (i + n) % 12
            posted = rng.choice(
                [
                    f"2025-{month:02d}-{day:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
                    f"2024-{month:02d}-{day:02d}T23:59:59+05:30",
                    "not a time <b>",
                ]
            )
            amount = rng.choice([1, 99, 1050, 12_345_678, 99_999_999_999, -1, -2500, -123_456_789])
            description = rng.choice(["Drain repair", "Paid — thanks", *HOSTILE, "x" * 500])
            if entries and rng.random() < 0.15:
                original = entries[-1]
                text = f"Void of entry {original.id}: {original.description} (duplicate <import>)"
                entry = Entry(next_id, 1, -original.amount_minor, text, posted, original.id)
                voids[entry.id] = (original.id, original.description)
            else:
                entry = Entry(next_id, 1, amount, description, posted)
            entries.append(entry)
            next_id += 1
        entries = entries[:20]
        shown = [e for e in entries]
        balance = rng.choice([0, 1, 4250, -725, 99_999_999_999_99, -5, sum(e.amount_minor for e in shown)])
        statements.append(
            Statement(
                customer_name=rng.choice(["Sol Soto", "Olive Owens", *HOSTILE]),
                balance_minor=balance,
                entries=shown,
                last_change=shown[0].posted_at if shown else rng.choice(["2025-03-01T15:00:00Z", "garbage"]),
                language=rng.choice([None, "en", "es"]),
                entry_count=rng.choice([None, len(shown), len(shown) + 1, len(shown) + 22, len(shown) + 1000]),
                voids={k: v for k, v in voids.items() if rng.random() < 0.8},
            )
        )
    return statements


SITES = {
    "en_US": Settings(name="Acme & Sons <Plumbing>", phone="(555) 010-0100", email="a@example.com").validated(),
    "es": Settings(name="Fontanería Sol", language="es", address="12 Main St, Springfield").validated(),
    "no tips": Settings(name="Plain", tips=()).validated(),
    "de_DE": Settings(name="Klempner Müller", currency="EUR", locale="de_DE", timezone="Europe/Berlin").validated(),
    "ja_JP": Settings(
        name="山田配管",
        currency="JPY",
        locale="ja_JP",
        timezone="Asia/Tokyo",
        pay_instructions="Pay at the <desk> & smile",
    ).validated(),
    "one tip": Settings(name="One", tips=(15,), timezone="America/Chicago").validated(),
}


@pytest.mark.parametrize("site", list(SITES))
def test_compiled_pages_are_jinjas_bytes(site):
    settings = SITES[site]
    compiled, jinja = compiling_renderer(settings), jinja_renderer(settings)
    statements = random_statements(hash(site) % 1000, 300)
    for statement in statements:
        assert compiled.page(statement) == jinja.page(statement)
    # The compiler was used (not falling back): every shape compiled and checked against Jinja.
    assert compiled._compiler is not None
    shapes = list(compiled._compiler.shapes.values())
    assert len(shapes) > 10 and all(getattr(s, "checked", False) for s in shapes)


def test_every_state_and_row_variant_in_one_page():
    settings = SITES["en_US"]
    compiled, jinja = compiling_renderer(settings), jinja_renderer(settings)
    rows = [
        Entry(6, 1, 500, "Void of entry 5: Visit <1> (wrong)", "2025-03-06T10:00:00Z", 5),
        Entry(5, 1, -500, "Visit <1>", "2025-03-05T10:00:00Z"),
        Entry(4, 1, 700, "Charge & co", "2025-03-04T10:00:00Z"),
        Entry(3, 1, -200, 'Credit "quoted"', "2025-03-03T10:00:00Z"),
        Entry(2, 1, 300, "Void of entry 99: gone", "2025-03-02T10:00:00Z", 99),
        Entry(1, 1, 1, "first", "2025-03-01T10:00:00Z"),
    ]
    for balance in (0, 1, -1, 12_345_678_901, 499):
        for count in (None, 6, 7, 40):
            statement = Statement(
                "Ann <O'Hara>", balance, rows, rows[0].posted_at, entry_count=count, voids={6: (5, "Visit <1>")}
            )
            for language in (None, "es"):
                statement = Statement(**{**vars(statement), "language": language})
                assert compiled.page(statement) == jinja.page(statement)


def test_a_renderer_compiles_only_after_a_few_pages():
    settings = SITES["en_US"]
    renderer = Renderer(settings)
    statement = random_statements(7, 1)[0]
    renderer.page(statement)
    assert renderer._compiler is None  # a posting command's one page: Jinja only
    for _ in range(COMPILE_AFTER + 1):
        renderer.page(statement)
    assert renderer._compiler is not None


def test_site_override_template_makes_the_renderer_use_jinja(tmp_path):
    override = tmp_path / "site_templates"
    override.mkdir()
    builtin = Path(Renderer(SITES["en_US"]).template_dirs[-1])
    page = (builtin / "page.html").read_text(encoding="utf-8")
    (override / "page.html").write_text(page.replace("privacy-note", "privacy-note custom-note"), encoding="utf-8")
    renderer = compiling_renderer(SITES["en_US"], override)
    reference = jinja_renderer(SITES["en_US"], override)
    assert renderer.compiled is False
    for statement in random_statements(3, 30):
        html = renderer.page(statement)
        assert "custom-note" in html
        assert html == reference.page(statement)
    assert renderer._compiler is None


def test_built_site_pages_match_jinja_pages(tmp_path):
    """A real build (which compiles after its first pages) writes the bytes Jinja gives."""
    root = make_site(tmp_path / "site")
    paylink = Paylink(root)
    ids = []
    for i, name in enumerate(HOSTILE * 3):
        customer = paylink.json("customer", "add", f"{name[:150]} {i}")["id"]
        paylink.ok("charge", str(customer), f"{i + 1}.25", f"Visit <{i}> & more")
        if i % 3 == 0:
            paylink.ok("credit", str(customer), f"{i + 3}.00", "Paid")
        paylink.ok("link", "generate", str(customer))
        ids.append(customer)
    paylink.ok("build", "--full")
    before = build_files(root)
    from paylink.page_records import statements
    from paylink.site import Site
    from paylink.storage import connect

    site = Site(root)
    conn = connect(site.db_path)
    try:
        jinja = jinja_renderer(site.settings, site.templates_dir)
        for snapshot, statement in statements(conn, ids):
            assert before[f"p/{snapshot}"] == jinja.page(statement).encode("utf-8")
    finally:
        conn.close()
    assert read_page(root, ids[0]) is not None


def test_one_streaming_read_per_batch_gives_what_three_queries_a_customer_give(tmp_path):
    """ledger.pages_of (a batch) equals recent_entries_and_voids + page_totals (one customer)."""
    import sqlite3
    from contextlib import closing

    from paylink.ledger import page_totals, pages_of, recent_entries_and_voids

    root = make_site(tmp_path / "site")
    paylink = Paylink(root)
    ids = [paylink.json("customer", "add", f"C{i}")["id"] for i in range(12)]
    rng = random.Random(5)
    with closing(sqlite3.connect(root / "paylink.db")) as conn, conn:
        for n, customer in enumerate(ids[:-1]):  # the last has no entries
            for i in range(rng.choice([1, 3, 20, 21, 45])):
                posted = rng.choice(
                    ["2025-03-01T10:00:00Z", f"2025-0{1 + i % 9}-1{i % 10}T08:00:00+02:00", "2025-03-01T05:00:00-05:00"]
                )
                conn.execute(
                    "INSERT INTO entries (customer_id, amount_minor, description, posted_at) VALUES (?, ?, ?, ?)",
                    (customer, rng.choice([500, -250, 12_345]), f"E{n}-{i} <&>", posted),
                )
    # Voids through the CLI: of a recent entry, of an old one (its original not shown), of another customer's.
    with closing(sqlite3.connect(root / "paylink.db")) as conn:
        per_customer = {
            c: [r[0] for r in conn.execute("SELECT id FROM entries WHERE customer_id = ? ORDER BY id", (c,))]
            for c in ids
        }
    for customer in ids[:-1]:
        entries = per_customer[customer]
        paylink.ok("void", str(entries[-1]))
        if len(entries) > 25:
            paylink.ok("void", str(entries[0]), "--reason", "old <one>")
    with closing(sqlite3.connect(root / "paylink.db")) as conn:
        batch = pages_of(conn, ids)
        for customer in ids:
            entries, voids = recent_entries_and_voids(conn, customer)
            balance, count, newest = page_totals(conn, customer)
            if newest is None:
                assert customer not in batch
                continue
            assert batch[customer] == (entries, voids, balance, count, newest)
            assert all(e.voids_entry_id is None for e in entries)  # a void is never a row
        assert any(b[1] for b in batch.values())  # voids were found
    # And a built site's pages equal Jinja's rendering of the one-by-one read.
    for customer in ids:
        paylink.ok("link", "generate", str(customer))
    paylink.ok("build", "--full")
    before = build_files(root)
    from paylink.page_records import statements_one_by_one
    from paylink.site import Site
    from paylink.storage import connect

    site = Site(root)
    conn = connect(site.db_path)
    try:
        jinja = jinja_renderer(site.settings, site.templates_dir)
        for snapshot, statement in statements_one_by_one(conn, ids):
            assert before[f"p/{snapshot}"] == jinja.page(statement).encode("utf-8")
    finally:
        conn.close()


def test_a_build_large_enough_for_helper_processes_writes_jinjas_bytes(tmp_path, monkeypatch):
    """Above the parallel threshold (lowered for the test: PAYLINK_PARALLEL_MIN_PAGES) the helpers read
    the ledger themselves (their own read transactions) and render; every page must still be what
    Jinja renders from the lock holder's own reading."""
    import sqlite3
    from contextlib import closing

    from paylink import page_helpers as pages
    from paylink.page_helpers import PARALLEL_MIN_PAGES_ENV

    monkeypatch.setenv(PARALLEL_MIN_PAGES_ENV, "200")
    count = 350
    assert count >= pages.parallel_min_pages() and pages.HELPER_CHUNK < count  # several chunks, with helpers
    if (os.cpu_count() or 1) < 2:
        pytest.skip("helper processes need a second core")
    root = make_site(tmp_path / "site")
    paylink = Paylink(root)
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "name,email,phone,ref\n" + "".join(f'"Cust {i} <&> ""q""",,,r{i}\n' for i in range(count)), "utf-8"
    )
    paylink.ok("import", "customers", str(customers))
    rng = random.Random(7)
    entries = tmp_path / "entries.csv"
    entries.write_text(
        "customer,kind,amount,description,date\n"
        + "".join(
            f"r{rng.randrange(count)},{rng.choice(['charge', 'credit'])},{rng.randrange(1, 500000) // 100}.{n % 100:02d},"
            f"Job {n} & <b>{rng.choice(HOSTILE[:3]).replace(chr(34), '')}</b>,2026-0{rng.randrange(1, 10)}-1{n % 10}\n"
            for n in range(count * 3)
        ),
        "utf-8",
    )
    paylink.ok("import", "entries", str(entries))
    for entry_id in (1, 5, 9, 40, 41):
        paylink.ok("void", str(entry_id), "--reason", "wrong <customer>")
    with closing(sqlite3.connect(root / "paylink.db")) as db, db:  # another program sets some languages
        db.execute("UPDATE customers SET language = 'es' WHERE id % 7 = 0")
    paylink.ok("link", "generate", "--all")
    assert paylink.json("build", "--full")["written"] == count
    assert_pages_are_jinjas(root, count)
    # A posting that changes every page (an import) stages them before it commits: this process
    # reads its own uncommitted change, the helpers render a share of it.
    more = tmp_path / "more.csv"
    more.write_text(
        "customer,kind,amount,description,date\n"
        + "".join(f"r{i},charge,1.{i % 100:02d},Later & <i>{i}</i>,2026-10-01\n" for i in range(count)),
        "utf-8",
    )
    assert paylink.json("import", "entries", str(more))["imported"] == count
    assert_pages_are_jinjas(root, count)


def assert_pages_are_jinjas(root: Path, count: int) -> None:
    """Every page in build/p is what Jinja renders from a one-customer-at-a-time reading of the ledger."""
    from paylink.page_records import statements_one_by_one
    from paylink.site import Site
    from paylink.storage import connect

    built = build_files(root)
    site = Site(root)
    conn = connect(site.db_path)
    try:
        jinja = jinja_renderer(site.settings, site.templates_dir)
        ids = [r[0] for r in conn.execute("SELECT id FROM customers ORDER BY id")]
        pages = list(statements_one_by_one(conn, ids))
        assert len(pages) == count
        for snapshot, statement in pages:
            assert built[f"p/{snapshot}"] == jinja.page(statement).encode("utf-8"), statement.customer_name
        assert any(statement.voids for _, statement in pages)
        assert any(statement.language == "es" for _, statement in pages)
    finally:
        conn.close()


# --- the pay-options slot (PageFacts.pay_options) ----------------------------------------------

PAY_BLOCK = (
    '<div class="pay-options" id="pay-options">'
    '<a class="pay-option" data-method="zelle" href="#zelle">Zelle &amp; more</a>'
    '<a class="pay-option" data-method="sepa" href="#sepa">SEPA</a></div>'
)


def pay_options(statement: Statement, facts):
    """What another module will give the page: escaped HTML per customer (here: fixed, and a marker of who)."""
    from markupsafe import Markup, escape

    return (
        Markup(PAY_BLOCK) + Markup("<!-- for ") + escape(statement.customer_name) + Markup(f" in {facts.language} -->")
    )


def test_pay_options_take_the_place_of_the_notice_and_the_card_form_and_keep_the_tips():
    settings = SITES["en_US"]
    statement = Statement(
        "Ann <O'Hara>", 4250, [Entry(1, 1, 4250, "Visit", "2025-03-01T10:00:00Z")], "2025-03-01T10:00:00Z"
    )
    soup = parse(Renderer(settings, pay_options=pay_options).page(statement))
    assert soup.select("#pay-notice") == [] and soup.select("form#payment-form") == []
    assert [o["data-method"] for o in soup.select("#pay-options .pay-option")] == ["zelle", "sepa"]
    assert soup.select_one("#pay-options a").get_text() == "Zelle & more"  # the block's own escaping, kept
    assert [r["value"] for r in soup.select("input[type=radio][name=tip]")] == ["0", "18", "20", "25"]
    assert soup.select_one("#total").get_text() == "$42.50"
    assert "Ann &lt;O&#39;Hara&gt;" in str(Renderer(settings, pay_options=pay_options).page(statement))
    # Without pay options the page is exactly as without the slot.
    plain = Renderer(settings, pay_options=lambda statement, facts: None).page(statement)
    assert plain == Renderer(settings).page(statement)
    assert parse(plain).select("#pay-notice") and parse(plain).select("form#payment-form")


@pytest.mark.parametrize("site", ["en_US", "es", "no tips", "ja_JP"])
def test_pages_with_pay_options_stay_on_the_compiled_path_and_are_jinjas_bytes(site):
    settings = SITES[site]
    compiled = Renderer(settings, pay_options=pay_options)
    compiled._jinja_pages = COMPILE_AFTER
    jinja = Renderer(settings, pay_options=pay_options)
    jinja.compiled = False
    for statement in random_statements(11, 120):
        assert compiled.page(statement) == jinja.page(statement)
    shapes = compiled._compiler.shapes
    with_pay = [s for key, s in shapes.items() if key[-1]]
    assert with_pay and all(getattr(s, "checked", False) for s in with_pay)
    assert any(key[1] == "outstanding" for key in shapes if key[-1])
