"""The edge keeps pages asked for again in memory, and still serves a rewritten page at once.

Real files in a real build/ folder, changed the ways the builder and people change
them (a rename over the page, a rewrite in place, a removal, a planted symlink);
the edge is the real one, called in-process. A file is kept only once its ctime
is a second old, so these tests wait for that before they count on the cache.
"""

import os
import time
from pathlib import Path

import pytest
from paylink import layout
from paylink.edge.app import FileCache, make_application
from paylink.tokens import LinkSigner, new_key, new_link_id

CANARY = b"CANARY-outside-build-5c1e"


def settle(*paths: Path) -> None:
    """Wait until the files' ctime is old enough for the edge to keep them."""
    newest = max(p.stat().st_ctime_ns for p in paths)
    wait_ns = newest + FileCache.SETTLED_NS + 50_000_000 - time.time_ns()
    if wait_ns > 0:
        time.sleep(wait_ns / 1e9)


class Site:
    def __init__(self, root: Path):
        self.build = root / "build"
        (self.build / layout.SNAPSHOT_DIR).mkdir(parents=True)
        (self.build / layout.GONE_PAGE).write_bytes(b"<p>GONE-PAGE</p>\n")
        (self.build / layout.NOT_FOUND_PAGE).write_bytes(b"<p>NOT-FOUND-PAGE</p>\n")
        (root / "secret.txt").write_bytes(CANARY)
        self.secret = root / "secret.txt"
        self.keys = [new_key()]
        link_id = new_link_id()
        self.token = LinkSigner(self.keys).sign(link_id)
        self.page = self.build / layout.SNAPSHOT_DIR / layout.snapshot_name(link_id)
        self.page.write_bytes(page_text("first"))
        self.edge = make_application(self.build, self.keys)

    def get(self, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        status, headers, length, body = self.edge.respond(method, f"/p/{self.token}", {})
        return status, {"Content-Length": str(length), **dict(headers)}, body

    def kept(self) -> bool:
        return self.edge.files.get(str(self.page)) is not None


def page_text(word: str) -> bytes:
    return f"<!doctype html><main>balance for {word:>8}</main>\n".encode()  # the same length for every word


@pytest.fixture(scope="module")
def settled_sites(tmp_path_factory) -> list[Site]:
    """Sites made together and settled with one wait, one per test."""
    sites = [Site(tmp_path_factory.mktemp("site")) for _ in range(8)]
    settle(*(s.page for s in sites))
    return sites


@pytest.fixture
def site(settled_sites) -> Site:
    return settled_sites.pop()


def keep_page(site: Site) -> None:
    settle(site.page)
    for _ in range(3):
        assert site.get()[0] == 200
    assert site.kept()


def test_a_page_asked_for_again_is_kept_and_answered_the_same(site):
    first = site.get()
    assert not site.kept()  # asked for once: not kept
    keep_page(site)
    again = site.get()
    assert again == first and again[2] == page_text("first")
    status, headers, body = site.get("HEAD")
    assert status == 200 and body == b"" and headers == first[1]


def test_a_page_just_written_is_not_kept(site):
    site.page.write_bytes(page_text("fresh"))
    for _ in range(5):
        assert site.get()[2] == page_text("fresh")
    assert not site.kept()


def test_a_kept_page_replaced_by_a_rename_is_served_at_once(site):
    keep_page(site)
    for word in ("second", "third"):  # the builder's way: a new file renamed over the page
        temp = site.page.with_name(layout.TEMP_PREFIX + "new")
        temp.write_bytes(page_text(word))
        os.replace(temp, site.page)
        assert site.get()[2] == page_text(word)
    settle(site.page)
    site.get()
    assert site.kept() and site.get()[2] == page_text("third")


def test_a_kept_page_rewritten_in_place_is_served_at_once(site):
    keep_page(site)
    with open(site.page, "r+b") as page:  # same inode, same size, new bytes
        page.write(page_text("changed"))
    assert site.get()[2] == page_text("changed")


def test_a_kept_page_removed_is_gone(site):
    keep_page(site)
    site.page.unlink()
    status, _, body = site.get()
    assert status == 410 and body == b"<p>GONE-PAGE</p>\n"
    assert not site.kept()


def test_a_kept_page_replaced_by_a_symlink_is_not_followed(site):
    keep_page(site)
    site.page.unlink()
    site.page.symlink_to(site.secret)
    status, _, body = site.get()
    assert status == 500 and CANARY not in body


def test_the_kept_files_are_bounded_in_number_and_bytes(tmp_path):
    files = []
    for n in range(5):
        path = tmp_path / f"f{n}"
        path.write_bytes(bytes([65 + n]) * 100)
        files.append(path)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 251)
    settle(*files, big)
    cache = FileCache(max_files=3, max_bytes=16 * 250)
    for path in files:
        cache.keep(str(path), _identity(path), path.read_bytes())
    assert [cache.get(str(p)) is not None for p in files] == [False, False, True, True, True]  # oldest dropped
    cache.keep(str(big), _identity(big), big.read_bytes())
    assert cache.get(str(big)) is None  # more than a sixteenth of the bytes: never kept
    small = FileCache(max_files=10, max_bytes=16 * 100)  # room for 16 files of 100 bytes
    for path in files:
        small.keep(str(path), _identity(path), path.read_bytes())
    assert all(small.get(str(p)) is not None for p in files)
    shrunk = FileCache(max_files=10, max_bytes=250)
    for path in files[:2]:
        shrunk.keep(str(path), _identity(path), path.read_bytes())
    assert shrunk.get(str(files[0])) is None and shrunk.get(str(files[1])) is None  # each over 250 // 16


def test_only_whole_regular_files_are_kept(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    settle(path)
    cache = FileCache()
    cache.keep(str(path), _identity(path), b"ab")  # fewer bytes than its stat said: changed while read
    assert cache.get(str(path)) is None
    cache.keep(str(tmp_path), _identity(tmp_path), b"")  # a directory
    assert cache.get(str(tmp_path)) is None
    cache.keep(str(path), _identity(path), b"abc")
    assert cache.get(str(path)) is not None


def _identity(path: Path):
    from paylink.edge.app import _identity as identity

    return identity(os.stat(path, follow_symlinks=False))
