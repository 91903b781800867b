"""The publisher: mirrors ``build/`` into the S3-compatible bucket named by the ``publish`` setting.

What the store holds is kept in the ledger's database (``published``: object
name relative to ``build/`` -> SHA-256 of its bytes), and the page writer
queues every name it writes or removes (``publish_queue``) in the transaction
that did the work. So a publish after one posting hashes that one page and
sends it, without listing the bucket; only the first publish to a store (or
``--full``) lists it and repairs what differs, comparing each object's ETag
(the MD5 of a single-part upload) with the file, never its size: $120.50 and
$130.50 make pages of the same length.

Bookkeeping is confirmed under the ledger's write lock, where no page writer
is mid-write: a name leaves the queue only if the file still has the bytes
that were sent (or is still absent after a delete). A page rewritten while it
was being uploaded therefore stays queued and goes out on the next round.

Only names an edge can serve are ever read, and only from inside ``build/``:
the key, the ledger and the settings live beside it and can never match. Of
those, only what the ledger expects is uploaded: the page of a live link (by
the ``links`` table), an asset whose bytes match the digest in its name, the
fixed files of ``layout.STATIC_FILES``; anything else found in ``build/`` is
deleted from the store, never sent. Nothing here prints; failures to reach
the store raise ``PublishFailed``, whose text never holds the endpoint's
user name or password.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import layout
from .errors import PaylinkError, SiteError
from .settings import Settings, hide_userinfo, without_userinfo
from .site import Site
from .storage import write_transaction

# Every name of build/ an edge serves, and so every name the publisher may read or upload.
_FIXED_FILES_RE = "|".join(re.escape(name) for name in layout.STATIC_FILES)
PUBLIC_NAME_RE = re.compile(
    rf"(?:{layout.SNAPSHOT_DIR}/[0-9a-f]{{32}}\.html"
    rf"|{layout.ASSETS_DIR}/[a-z0-9-]+\.[0-9a-f]{{{layout.ASSET_HASH_HEX}}}\.(?:css|js|svg)"
    rf"|{_FIXED_FILES_RE})\Z",
    re.ASCII,
)
# build_state row naming the store the `published` table describes (set by a completed listing publish).
SYNCED_STATE = "publish_synced"
UPLOAD_THREADS = 8
CONFIRM_BATCH = 500
_MD5_RE = re.compile(r"[0-9a-f]{32}\Z")  # the ETag of a single-part upload without SSE-KMS
ROUNDS = 3  # queue rounds per run: pages rewritten during an upload go out on the next one
# A command's own publishing gives up on a store that does not answer after about 10 s in all (a PUT
# also waits up to 1 s for botocore's "100 Continue" on each of its two tries: 7 s; a DELETE 5 s).
FAST_CONNECT_S, FAST_READ_S, FAST_ATTEMPTS = 2, 2.5, 2


class NotPublishing(SiteError):
    """The site has no ``publish`` setting."""


class PublishFailed(PaylinkError):
    """The publish store could not be reached or refused a request."""


@dataclass
class PublishResult:
    """How many objects a publish uploaded, deleted, and found already current."""

    uploaded: int = 0
    deleted: int = 0
    unchanged: int = 0
    listed: bool = False  # whether the bucket was listed (first publish, or --full)
    names: list[str] = field(default_factory=list, repr=False)  # uploaded and deleted names, in order

    def as_dict(self) -> dict[str, int]:
        return {"uploaded": self.uploaded, "deleted": self.deleted, "unchanged": self.unchanged}


@dataclass(frozen=True)
class Target:
    """Where build/ goes: a bucket, a key prefix (no slashes at either end), and an optional endpoint.

    The endpoint is kept without any user name or password written into it
    (S3 signs requests with the credentials found the usual way; a user and
    password in the URL are never sent, and never shown): ``written`` is the
    setting as written, only to take its secrets out of a message.
    """

    bucket: str
    prefix: str
    endpoint: str | None
    written: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> Target:
        if not settings.publish:
            raise NotPublishing('this site has no publish store — add publish = "s3://BUCKET/PREFIX" to paylink.toml')
        bucket, _, prefix = settings.publish.removeprefix("s3://").partition("/")
        endpoint = settings.publish_endpoint
        return cls(bucket, prefix.strip("/"), without_userinfo(endpoint) if endpoint else None, endpoint)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def name(self, key: str) -> str | None:
        """The build/ name of an object key, or None if the key is outside the prefix."""
        if not self.prefix:
            return key
        return key[len(self.prefix) + 1 :] if key.startswith(self.prefix + "/") else None

    @property
    def identity(self) -> str:
        return f"{self.endpoint or 'aws'} s3://{self.bucket}/{self.prefix}"


def make_client(target: Target, *, fast: bool = False):
    """An S3 client for the target; credentials the usual way (environment, profile, instance role).

    ``fast`` (used when a command publishes its own change) gives up on an
    unreachable or hanging store within seconds (two tries of at most
    FAST_CONNECT_S + FAST_READ_S each), so the command can say so and exit.
    """
    import boto3
    from botocore.config import Config

    options: dict = {"max_pool_connections": UPLOAD_THREADS * 2}
    if fast:
        options.update(
            connect_timeout=FAST_CONNECT_S,
            read_timeout=FAST_READ_S,
            retries={"total_max_attempts": FAST_ATTEMPTS, "mode": "standard"},
        )
    else:
        options.update(retries={"max_attempts": 5, "mode": "standard"})
    if target.endpoint:
        # R2, MinIO and friends: path-style addressing, and checksums only where the API requires them.
        options.update(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    session = boto3.session.Session(botocore_session=_botocore_session())
    region = session.region_name or ("auto" if target.endpoint else "us-east-1")
    return session.client("s3", endpoint_url=target.endpoint, region_name=region, config=Config(**options))


def _botocore_session():
    """A new botocore session (credentials and settings read afresh, as before) that shares one data
    loader a process: botocore's service descriptions (~2 MB of JSON) are parsed once, not for every
    client. `paylink watch` makes a client each time it publishes: ~0.1 s of CPU each, ~0.01 s now."""
    import botocore.session

    session = botocore.session.Session()
    session.register_component("data_loader", _data_loader())
    return session


@functools.cache
def _data_loader():
    """botocore's loader of its own JSON files; it keeps what it parsed (read-only data of the library)."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def store_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the store could not be reached or refused us"."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def describe(exc: BaseException, endpoint: str | None = None) -> str:
    """A short, single-line account of a store failure, with no user name or password of ``endpoint`` (or any URL)."""
    text = hide_userinfo(" ".join(str(exc).split()), endpoint)
    return text[:200] + ("…" if len(text) > 200 else "")


# --- reading build/ ------------------------------------------------------------


def read_public(build_dir: Path, name: str) -> bytes | None:
    """The bytes of ``build/name`` if it is a public file there (no symlinks followed), else None.

    An asset must hold what its name says (its name carries its content's
    digest), so no other file can pass for one.
    """
    if not PUBLIC_NAME_RE.match(name):
        return None
    try:
        fd = os.open(os.path.join(build_dir, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: a symlink planted in build/
            return None
        raise
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if name.startswith(_ASSETS) and name.rsplit(".", 2)[1] != sha256(data)[: layout.ASSET_HASH_HEX]:
        return None
    return data


def public_names(build_dir: Path) -> list[str]:
    """Every public file of build/ (temp files of a write in progress and anything else skipped)."""
    names = []
    for folder, _dirs, files in os.walk(build_dir, followlinks=False):
        relative = os.path.relpath(folder, build_dir)
        for file_name in files:
            name = file_name if relative == "." else f"{relative}/{file_name}".replace(os.sep, "/")
            if not file_name.startswith(layout.TEMP_PREFIX) and PUBLIC_NAME_RE.match(name):
                names.append(name)
    return sorted(names)


_ASSETS = f"{layout.ASSETS_DIR}/"
_PAGES = f"{layout.SNAPSHOT_DIR}/"


def live_pages(conn: sqlite3.Connection, names: Iterable[str]) -> set[str]:
    """Those of ``names`` that are the page of a live link, by the ledger: one query for them all."""
    snapshots = [n[len(_PAGES) :] for n in names if n.startswith(_PAGES)]
    if not snapshots:
        return set()
    return {
        _PAGES + r[0]
        for r in conn.execute(
            "SELECT l.snapshot FROM json_each(?) j JOIN links l ON l.snapshot = j.value WHERE l.retired_at IS NULL",
            (json.dumps(snapshots),),
        )
    }


def expected(name: str, live: set[str]) -> bool:
    """Whether build/ should hold ``name`` by the ledger: a live link's page (in ``live``), an asset
    (read_public checks its bytes) or one of the fixed files; anything else is never uploaded."""
    return name in live if name.startswith(_PAGES) else bool(PUBLIC_NAME_RE.match(name))


def queue_for_publish(conn: sqlite3.Connection, names: list[str], customer_ids: list[int]) -> None:
    """Record, in the caller's transaction, which files of build/ the publish store must catch up on.

    ``names`` are paths relative to build/ (written or removed); ``customer_ids``
    add their live snapshots. The publisher compares each file's digest with
    what it last sent, so an unchanged page costs no upload.
    """
    conn.executemany("INSERT OR IGNORE INTO publish_queue (name) VALUES (?)", [(n,) for n in names])
    conn.executemany(
        "INSERT OR IGNORE INTO publish_queue (name)"
        f" SELECT '{_PAGES}' || snapshot FROM links WHERE customer_id = ? AND retired_at IS NULL",
        [(c,) for c in customer_ids],
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the publisher --------------------------------------------------------------


class Publisher:
    """Publishes one site's build/ to its store, over one ledger connection."""

    def __init__(
        self,
        site: Site,
        conn: sqlite3.Connection,
        *,
        fast: bool = False,
        client=None,
        progress: Callable[[int, int], None] | None = None,
    ):
        self.progress = progress  # (files sent so far, files to send), after each batch of a run
        self.site = site
        self.conn = conn
        self.build_dir = site.build_dir
        self.target = Target.of(site.settings)
        self._client = client
        self.fast = fast

    @property
    def client(self):
        if self._client is None:
            self._client = make_client(self.target, fast=self.fast)
        return self._client

    # --- entry points

    def publish(self, *, full: bool = False, dry_run: bool = False) -> PublishResult:
        """Make the store match build/: the queue only, or (first time, or ``full``) against a listing."""
        listing = full or self._state() != self.target.identity
        try:
            if listing:
                result = self._sync_with_listing(dry_run)
                if dry_run:
                    return result
                result = self._drain_queue(result)
                with write_transaction(self.conn):
                    self.conn.execute(
                        "INSERT OR REPLACE INTO build_state (name, value) VALUES (?, ?)",
                        (SYNCED_STATE, self.target.identity),
                    )
                return result
            if dry_run:
                return self._plan_queue()
            return self._drain_queue(PublishResult())
        except store_errors() as exc:
            raise PublishFailed(
                f"the publish store {self.target.identity[:80]} could not be updated"
                f" ({describe(exc, self.target.written)})"
                " — check the endpoint, the bucket and your credentials, then run paylink publish again"
            ) from exc

    def push_queued(self) -> PublishResult:
        """Send what the page writer queued (no listing); raises the store's own errors."""
        if not self._queue_size():
            return PublishResult()
        return self._drain_queue(PublishResult())

    # --- the queue

    def _queue_size(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM publish_queue").fetchone()[0]

    def _published(self, names: Iterable[str]) -> dict[str, str]:
        """The digest last sent of each of ``names`` that the store holds, by the ``published`` table (one query)."""
        wanted = list(names)
        if not wanted:
            return {}
        return dict(
            self.conn.execute(
                "SELECT p.name, p.digest FROM json_each(?) j JOIN published p ON p.name = j.value",
                (json.dumps(wanted),),
            )
        )

    def _classify_queue(self, *, tidy: bool = True) -> tuple[list[str], list[tuple[str, str]], list[str]]:
        """Split the queue into (to upload), (unchanged: name, digest), (to delete)."""
        names = [r[0] for r in self.conn.execute("SELECT name FROM publish_queue ORDER BY name")]
        foreign = [n for n in names if not PUBLIC_NAME_RE.match(n)]
        if foreign and tidy:  # not a name paylink writes: nothing to send, and no object of that name to touch
            with write_transaction(self.conn):
                self.conn.executemany("DELETE FROM publish_queue WHERE name = ?", [(n,) for n in foreign])
            names = [n for n in names if PUBLIC_NAME_RE.match(n)]
        published = self._published(names)
        live = live_pages(self.conn, names)
        uploads, unchanged, deletes = [], [], []
        for name in names:
            # A file the ledger does not expect (a planted page, a retired link's) goes from the store.
            data = read_public(self.build_dir, name) if expected(name, live) else None
            if data is None:
                deletes.append(name)
                continue
            digest = sha256(data)
            if published.get(name) == digest:
                unchanged.append((name, digest))
            else:
                uploads.append(name)
        return uploads, unchanged, deletes

    def _plan_queue(self) -> PublishResult:
        uploads, unchanged, deletes = self._classify_queue(tidy=False)
        return PublishResult(len(uploads), len(deletes), len(unchanged), names=uploads + deletes)

    def _drain_queue(self, result: PublishResult) -> PublishResult:
        """Upload, then delete, what the queue names; repeat while pages changed meanwhile."""
        seen: dict[str, str] = {}
        for _ in range(ROUNDS):
            uploads, unchanged, deletes = self._classify_queue()
            # A name confirmed in this run and queued again unchanged is not counted twice.
            fresh = [u for u in unchanged if seen.get(u[0]) != u[1]]
            if not uploads and not deletes:
                self._confirm([(n, d) for n, d in unchanged], [])
                result.unchanged += len(fresh)
                return result
            self._upload_all(uploads, result)
            self._confirm([(n, d) for n, d in unchanged], [])
            result.unchanged += len(fresh)
            self._delete_all(deletes, result)
            seen.update((n, d) for n, d in unchanged)
        return result

    # --- the store

    def _send(self, name: str) -> str | None:
        """Upload ``build/name`` as it is now; return the digest of what was sent (None: the file is gone)."""
        data = read_public(self.build_dir, name)
        if data is None:
            return None
        self.client.put_object(
            Bucket=self.target.bucket,
            Key=self.target.key(name),
            Body=data,
            ContentType=layout.content_type(name),
            CacheControl=layout.cache_control(name),
        )
        return sha256(data)

    def _upload_all(self, names: list[str], result: PublishResult) -> None:
        """Upload files (in parallel when several), confirming each batch; stop at the first failure.

        Files are read when sent, so only the uploads in flight are in memory.
        """
        if not names:
            return
        self.client  # noqa: B018 — made once here, then shared by the upload threads (clients are thread-safe)
        pool = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="paylink-publish") if len(names) > 1 else None
        try:
            for start in range(0, len(names), CONFIRM_BATCH):
                if self.progress is not None:
                    self.progress(start, len(names))
                batch = names[start : start + CONFIRM_BATCH]
                if pool is None:
                    outcomes = [_outcome(self._send, name) for name in batch]
                else:
                    outcomes = list(pool.map(lambda name: _outcome(self._send, name), batch))
                sent = [(name, digest) for name, (digest, exc) in zip(batch, outcomes, strict=True) if exc is None]
                self._confirm(sent, [])
                result.uploaded += sum(1 for _, digest in sent if digest is not None)
                result.names += [name for name, digest in sent if digest is not None]
                failure = next((exc for _, exc in outcomes if exc is not None), None)
                if failure is not None:
                    raise failure
            if self.progress is not None:
                self.progress(len(names), len(names))
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _delete_all(self, deletes: list[str], result: PublishResult) -> None:
        """Delete objects one by one (after every upload), confirming as they go."""
        gone: list[str] = []
        try:
            for name in deletes:
                self.client.delete_object(Bucket=self.target.bucket, Key=self.target.key(name))
                gone.append(name)
                if len(gone) >= CONFIRM_BATCH:
                    self._confirm([], gone)
                    result.deleted += len(gone)
                    result.names += gone
                    gone = []
        finally:
            self._confirm([], gone)
            result.deleted += len(gone)
            result.names += gone

    def _confirm(self, current: Sequence[tuple[str, str | None]], deleted: Sequence[str]) -> None:
        """Record what the store now holds, under the write lock, checking build/ has not moved on.

        A file whose bytes changed since they were sent (or that reappeared after
        a delete) stays queued, and its ``published`` row is dropped: the next
        round cannot trust it.
        """
        if not current and not deleted:
            return
        with write_transaction(self.conn):
            for name, digest in current:
                data = read_public(self.build_dir, name)
                if data is not None and sha256(data) == digest:
                    self.conn.execute("INSERT OR REPLACE INTO published (name, digest) VALUES (?, ?)", (name, digest))
                    self.conn.execute("DELETE FROM publish_queue WHERE name = ?", (name,))
                else:
                    self._requeue(name)
            for name in deleted:
                if read_public(self.build_dir, name) is None:
                    self.conn.execute("DELETE FROM published WHERE name = ?", (name,))
                    self.conn.execute("DELETE FROM publish_queue WHERE name = ?", (name,))
                else:
                    self._requeue(name)

    def _requeue(self, name: str) -> None:
        self.conn.execute("DELETE FROM published WHERE name = ?", (name,))
        self.conn.execute("INSERT OR IGNORE INTO publish_queue (name) VALUES (?)", (name,))

    # --- against a listing

    def _listing(self) -> dict[str, str]:
        """Every object under the prefix: build/ name -> ETag (unquoted)."""
        found: dict[str, str] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.target.prefix}/" if self.target.prefix else ""
        for page in paginator.paginate(Bucket=self.target.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = self.target.name(item["Key"])
                if name is not None:
                    found[name] = item.get("ETag", "").strip('"')
        return found

    def _sync_with_listing(self, dry_run: bool) -> PublishResult:
        """Compare every public file of build/ with the bucket; upload what differs, delete what build/ lacks."""
        remote = self._listing()
        found = public_names(self.build_dir)
        live = live_pages(self.conn, found)
        local = [name for name in found if expected(name, live)]
        published = self._published(local)
        uploads: list[str] = []
        unchanged: list[tuple[str, str]] = []
        held = []
        for name in local:
            data = read_public(self.build_dir, name)
            if data is None:  # removed since the walk, or an asset that does not hold what its name says
                continue
            held.append(name)
            digest, etag = sha256(data), remote.get(name)
            if etag is not None and _MD5_RE.match(etag):
                same = etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
            else:  # absent, or an ETag that is no MD5 (multipart, SSE-KMS): present and recorded as sent
                same = etag is not None and published.get(name) == digest
            if same:
                unchanged.append((name, digest))
            else:
                uploads.append(name)
        local_set = set(held)
        deletes = sorted(name for name in remote if name not in local_set)
        if dry_run:
            return PublishResult(len(uploads), len(deletes), len(unchanged), listed=True, names=uploads + deletes)
        result = PublishResult(listed=True)
        # Queued removals the store never had need no request; confirm them now.
        queued = [r[0] for r in self.conn.execute("SELECT name FROM publish_queue")]
        self._confirm([], [n for n in queued if n not in local_set and n not in remote])
        self._upload_all(uploads, result)
        for start in range(0, len(unchanged), CONFIRM_BATCH):
            self._confirm(unchanged[start : start + CONFIRM_BATCH], [])
        result.unchanged += len(unchanged)
        self._delete_all(deletes, result)
        # What the table says the store holds is now exactly build/ (as far as confirmed).
        with write_transaction(self.conn):
            stale = [r[0] for r in self.conn.execute("SELECT name FROM published") if r[0] not in local_set]
            self.conn.executemany("DELETE FROM published WHERE name = ?", [(n,) for n in stale])
        return result

    def _state(self) -> str | None:
        row = self.conn.execute("SELECT value FROM build_state WHERE name = ?", (SYNCED_STATE,)).fetchone()
        return row[0] if row else None


def _outcome(send, name: str) -> tuple[str | None, BaseException | None]:
    """(digest sent, None) or (None, the store's error) for one upload."""
    try:
        return send(name), None
    except store_errors() as exc:
        return None, exc


# --- what the actions (watch too) call ------------------------------------------------


def store_warning(exc: BaseException, endpoint: str | None = None) -> str:
    """The ``Warning:`` text for a change that could not reach the store."""
    return (
        f"the publish store could not be updated ({describe(exc, endpoint)}) — run paylink publish when it is reachable"
    )


def push_site_queue(site: Site, conn: sqlite3.Connection) -> str | None:
    """Send what the page writer queued, if the site publishes; return a warning text if the store failed.

    The queue keeps whatever was not sent, for ``paylink publish`` or ``watch``.
    """
    if not site.settings.publish:
        return None
    try:
        Publisher(site, conn, fast=True).push_queued()
    except Exception as exc:  # noqa: BLE001 — the change is made: whatever failed here is a Warning, never an Error
        return store_warning(exc, site.settings.publish_endpoint)
    return None


def remove_first(site: Site, conn: sqlite3.Connection, names: list[str]) -> None:
    """Delete these objects (build/ names) from the store now, inside the caller's transaction, before it commits.

    A retired link's page must be gone from the store before the ledger says
    so: on success the bookkeeping rows go in the caller's transaction; when
    the store cannot be reached this raises PublishFailed and nothing is recorded.
    """
    publisher = Publisher(site, conn, fast=True)
    try:
        for name in names:
            publisher.client.delete_object(Bucket=publisher.target.bucket, Key=publisher.target.key(name))
    except Exception as exc:  # noqa: BLE001 — a store out of reach, refusing us, or a client that cannot start
        raise PublishFailed(describe(exc, site.settings.publish_endpoint)) from exc
    conn.executemany("DELETE FROM published WHERE name = ?", [(n,) for n in names])
    conn.executemany("DELETE FROM publish_queue WHERE name = ?", [(n,) for n in names])


def requeue(conn: sqlite3.Connection, names: list[str]) -> None:
    """Mark these names as not on the store and due (a change whose pages were removed first was rolled back)."""
    with write_transaction(conn):
        conn.executemany("DELETE FROM published WHERE name = ?", [(n,) for n in names])
        conn.executemany("INSERT OR IGNORE INTO publish_queue (name) VALUES (?)", [(n,) for n in names])


def queue_waiting(conn: sqlite3.Connection) -> bool:
    """Whether any written or removed file still waits for the store (one cheap read)."""
    return conn.execute("SELECT 1 FROM publish_queue LIMIT 1").fetchone() is not None
