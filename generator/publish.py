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
the key, the ledger and the settings live beside it and can never match.
Nothing here prints; failures to reach the store raise ``PublishFailed``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import layout
from .errors import PaylinkError, SiteError
from .settings import Settings
from .site import Site
from .storage import write_transaction

# Every name of build/ an edge serves, and so every name the publisher may read or upload.
PUBLIC_NAME_RE = re.compile(
    rf"(?:{layout.SNAPSHOT_DIR}/[0-9a-f]{{32}}\.html"
    rf"|{layout.ASSETS_DIR}/[a-z0-9-]+\.[0-9a-f]{{{layout.ASSET_HASH_HEX}}}\.(?:css|js|svg)"
    rf"|{'|'.join(map(re.escape, layout.STATIC_FILES))})\Z",
    re.ASCII,
)
# build_state row naming the store the `published` table describes (set by a completed listing publish).
SYNCED_STATE = "publish_synced"
UPLOAD_THREADS = 8
CONFIRM_BATCH = 500
_MD5_RE = re.compile(r"[0-9a-f]{32}\Z")  # the ETag of a single-part upload without SSE-KMS
ROUNDS = 3  # queue rounds per run: pages rewritten during an upload go out on the next one


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
    """Where build/ goes: a bucket, a key prefix (no slashes at either end), and an optional endpoint."""

    bucket: str
    prefix: str
    endpoint: str | None

    @classmethod
    def of(cls, settings: Settings) -> Target:
        if not settings.publish:
            raise NotPublishing('this site has no publish store — add publish = "s3://BUCKET/PREFIX" to paylink.toml')
        bucket, _, prefix = settings.publish.removeprefix("s3://").partition("/")
        return cls(bucket, prefix.strip("/"), settings.publish_endpoint)

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
    unreachable store within seconds, so the command can say so and exit.
    """
    import boto3
    from botocore.config import Config

    options: dict = {"max_pool_connections": UPLOAD_THREADS * 2}
    if fast:
        options.update(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})
    else:
        options.update(retries={"max_attempts": 5, "mode": "standard"})
    if target.endpoint:
        # R2, MinIO and friends: path-style addressing, and checksums only where the API requires them.
        options.update(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    session = boto3.session.Session()
    region = session.region_name or ("auto" if target.endpoint else "us-east-1")
    return session.client("s3", endpoint_url=target.endpoint, region_name=region, config=Config(**options))


def store_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the store could not be reached or refused us"."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def describe(exc: BaseException) -> str:
    """A short, single-line account of a store failure."""
    text = " ".join(str(exc).split())
    return text[:200] + ("…" if len(text) > 200 else "")


# --- reading build/ ------------------------------------------------------------


def read_public(build_dir: Path, name: str) -> bytes | None:
    """The bytes of ``build/name`` if it is a public file there (no symlinks followed), else None."""
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
        return b"".join(chunks)
    finally:
        os.close(fd)


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
                f"the publish store {self.target.identity[:80]} could not be updated ({describe(exc)})"
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
        found: dict[str, str] = {}
        chunk: list[str] = []
        for name in [*names, None]:
            if name is not None:
                chunk.append(name)
            if chunk and (name is None or len(chunk) == 500):
                marks = ",".join("?" * len(chunk))
                found.update(self.conn.execute(f"SELECT name, digest FROM published WHERE name IN ({marks})", chunk))
                chunk = []
        return found

    def _classify_queue(self, *, tidy: bool = True) -> tuple[list[str], list[tuple[str, str]], list[str]]:
        """Split the queue into (to upload), (unchanged: name, digest), (to delete)."""
        names = [r[0] for r in self.conn.execute("SELECT name FROM publish_queue ORDER BY name")]
        foreign = [n for n in names if not PUBLIC_NAME_RE.match(n)]
        if foreign and tidy:  # not a name paylink writes: nothing to send, and no object of that name to touch
            with write_transaction(self.conn):
                self.conn.executemany("DELETE FROM publish_queue WHERE name = ?", [(n,) for n in foreign])
            names = [n for n in names if PUBLIC_NAME_RE.match(n)]
        published = self._published(names)
        uploads, unchanged, deletes = [], [], []
        for name in names:
            data = read_public(self.build_dir, name)
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
        local = public_names(self.build_dir)
        published = self._published(local)
        uploads: list[str] = []
        unchanged: list[tuple[str, str]] = []
        for name in local:
            data = read_public(self.build_dir, name)
            if data is None:  # removed since the walk
                continue
            digest, etag = sha256(data), remote.get(name)
            if etag is not None and _MD5_RE.match(etag):
                same = etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
            else:  # absent, or an ETag that is no MD5 (multipart, SSE-KMS): present and recorded as sent
                same = etag is not None and published.get(name) == digest
            if same:
                unchanged.append((name, digest))
            else:
                uploads.append(name)
        local_set = set(local)
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


# --- what actions and the watcher call ----------------------------------------------


def store_warning(exc: BaseException) -> str:
    """The ``Warning:`` text for a change that could not reach the store."""
    return f"the publish store could not be updated ({describe(exc)}) — run paylink publish when it is reachable"


def push_site_queue(site: Site, conn: sqlite3.Connection) -> str | None:
    """Send what the page writer queued, if the site publishes; return a warning text if the store failed.

    The queue keeps whatever was not sent, for ``paylink publish`` or ``watch``.
    """
    if not site.settings.publish:
        return None
    try:
        Publisher(site, conn, fast=True).push_queued()
    except Exception as exc:  # noqa: BLE001 — the change is made: whatever failed here is a Warning, never an Error
        return store_warning(exc)
    return None


class QueueRetry:
    """For ``watch``: pushes the queue after each build, and retries a failed push with a growing pause."""

    def __init__(self, site: Site, conn: sqlite3.Connection, report):
        self.site = site
        self.conn = conn
        self.report = report
        self.pause = 0.0
        self.next_try = 0.0

    def __call__(self) -> None:
        if time.monotonic() < self.next_try:
            return
        try:  # the queue fills only while `publish` is set: an idle watch reads one count a second
            pending = self.conn.execute("SELECT 1 FROM publish_queue LIMIT 1").fetchone()
        except sqlite3.Error:
            return
        if not pending:
            return
        site = Site(self.site.root)  # settings read fresh, like the watcher's builds
        warning = push_site_queue(site, self.conn)
        if warning is None:
            if self.pause:
                self.report("built", "The publish store is up to date again.")
            self.pause, self.next_try = 0.0, 0.0
        else:
            if not self.pause:
                self.report("error", warning)
            self.pause = min(60.0, max(2.0, self.pause * 2))
            self.next_try = time.monotonic() + self.pause
