"""A site: the folder that holds a business's settings, ledger, key and build output."""

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SiteError
from .layout import BUILD_DIR, DB_FILE, KEY_FILE, SETTINGS_FILE, SITE_ENV, TEMPLATES_DIR
from .settings import Settings, load_settings_cached, write_cache

if TYPE_CHECKING:  # imported where used: a posting command signs nothing (itsdangerous, secrets)
    from . import tokens

SETTINGS_MODE = 0o644
# Validated settings of an unchanged paylink.toml, so a command skips Babel (see load_settings_cached).
SETTINGS_CACHE = ".paylink-settings.cache"

PRIVATE_MODE = 0o600


def _keep_private(path: Path) -> None:
    """Take group and other access away from a file of ours that must be the owner's only."""
    try:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, PRIVATE_MODE)
    except OSError:
        pass  # missing, or another user's: nothing we may change


class Site:
    """A site folder and what is in it."""

    def __init__(self, root: Path):
        self.root = root
        # A settings cache made while reading paylink.toml, written only by ``save_settings_cache``
        # (the workspace calls it when the command succeeded: ``Error:`` means nothing was written).
        self._unsaved_settings_cache: tuple[Path, dict] | None = None

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def key_path(self) -> Path:
        return self.root / KEY_FILE

    @property
    def build_dir(self) -> Path:
        return self.root / BUILD_DIR

    @property
    def templates_dir(self) -> Path:
        """Where a site's own templates override the built-in ones."""
        return self.root / TEMPLATES_DIR

    @cached_property
    def settings(self) -> Settings:
        """The validated settings from paylink.toml."""
        if not self.settings_path.is_file():
            raise SiteError(f"{self.settings_path} is missing — run `paylink init {self.root}`")
        try:
            mode = os.stat(self.settings_path).st_mode
            if mode & 0o022:  # writable by others: anyone could change what customers are shown
                os.chmod(self.settings_path, mode & 0o755)
        except OSError:
            pass  # another user's site we may only read
        return load_settings_cached(self.settings_path, self.root / SETTINGS_CACHE, save=self._keep_settings_cache)

    def _keep_settings_cache(self, cache_path: Path, cache: dict) -> None:
        self._unsaved_settings_cache = (cache_path, cache)

    def save_settings_cache(self) -> None:
        """Write the settings cache reading paylink.toml made, if it made one."""
        unsaved, self._unsaved_settings_cache = self._unsaved_settings_cache, None
        if unsaved is not None:
            write_cache(*unsaved)

    def signer_keys(self) -> list[str]:
        """This site's signing keys, newest last (PAYLINK_SECRET_KEY overrides the key file)."""
        from . import tokens

        try:
            return tokens.load_keys(self.key_path)
        except tokens.NoSigningKey as exc:
            raise SiteError(f"{exc} — the key file holds one key per line, newest last") from exc

    @cached_property
    def signer(self) -> "tokens.LinkSigner":
        """Signs and verifies this site's link tokens."""
        from . import tokens

        return tokens.LinkSigner(self.signer_keys())

    def open_ledger(self):
        """Open this site's ledger; a missing ledger is an error, never silently a new empty one."""
        from . import storage

        if not self.db_path.is_file():
            raise SiteError(
                f"{self.db_path} is missing — restore it from a backup, or run `paylink init` in a new folder"
            )
        _keep_private(self.key_path)
        return storage.connect(self.db_path)  # also puts the ledger's files back to 0600

    def link_url(self, nonce: str) -> str:
        """The customer-facing URL for a link."""
        return f"{self.settings.base_url}/p/{self.signer.sign(nonce)}"


def find_site(explicit: str | os.PathLike | None = None) -> Site:
    """Return the site named by --site, else $PAYLINK_SITE, else the current folder or the nearest one above it.

    A named folder (--site or $PAYLINK_SITE) must itself hold ``paylink.toml``;
    without one, the search goes up from the current folder as git finds its
    repository, so a command run in ``build/`` or any subfolder finds its site.
    """
    named = explicit or os.environ.get(SITE_ENV)
    if named:
        root = Path(named).expanduser().absolute()
        if not (root / SETTINGS_FILE).is_file():
            how = "--site" if explicit else SITE_ENV
            raise SiteError(
                f"no paylink site in {root} (named by {how}) — give the folder that holds your site's"
                " paylink.toml; to start a new business there, run paylink init DIR"
            )
        return Site(root)
    here = Path.cwd()
    enclosing = enclosing_site(here)
    if enclosing is None:
        # Not "run paylink init .": the owner is most likely just outside their site (or in a
        # folder of it that looked like another), and a second site here would split their books.
        raise SiteError(
            f"no paylink site here (looked in {here} and every folder above) — cd into your site's folder,"
            f" pass --site DIR, or set {SITE_ENV}; to start a new business, run paylink init DIR"
        )
    return Site(enclosing)


def enclosing_site(folder: Path) -> Path | None:
    """The folder itself or the nearest folder above it that holds ``paylink.toml``, else None."""
    folder = folder.expanduser().absolute()
    for candidate in (folder, *folder.parents):
        try:
            if (candidate / SETTINGS_FILE).is_file():
                return candidate
        except OSError:  # an unreadable folder on the way up ends nothing; look further
            continue
    return None


def check_output_path(site: Site, path: Path, what: str) -> Path:
    """Return where a file the owner asked for (a statement, a QR code, a backup) may be written, or refuse.

    Never inside ``build/`` (what is there is published, and these files hold a
    customer's link or the whole ledger), and never over the site's own files.
    """
    target = path.expanduser().absolute()
    resolved = target.resolve()
    build = site.build_dir.resolve()
    if resolved == build or build in resolved.parents:
        raise SiteError(
            f"{what} {str(path)[:80]} is inside build/, which is published — write it outside the site's build/ folder"
        )
    own = [site.db_path, site.key_path, site.settings_path]
    own += [site.db_path.with_name(site.db_path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    for file in own:
        if resolved == file.resolve() or (target.exists() and file.exists() and os.path.samefile(target, file)):
            raise SiteError(f"{what} {str(path)[:80]} would overwrite the site's own {file.name} — choose another file")
    if not target.parent.is_dir():
        raise SiteError(f"{what} {str(path)[:80]}: folder {str(target.parent)[:80]} does not exist — create it first")
    if target.is_dir():
        raise SiteError(f"{what} {str(path)[:80]} is a folder — give a file name")
    return target.parent.resolve() / target.name


def write_private_file(path: Path, data: bytes) -> None:
    """Write a file the owner asked for atomically (temp file next to it, then os.replace), mode 0600.

    Such files (a QR code, a statement) hold a customer's secret link or
    details, so only their owner may read them.
    """
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def check_new_site_folder(root: Path) -> None:
    """Refuse a folder (absolute) that holds any part of a site, lies inside another site, or is a file."""
    existing = [p for p in (SETTINGS_FILE, DB_FILE, KEY_FILE) if (root / p).exists()]
    if existing:
        raise SiteError(f"{root} already holds a paylink site ({existing[0]}) — choose another folder")
    outer = enclosing_site(root.parent) if root.parent != root else None
    if outer is not None:
        inside = "build/ folder" if (outer / BUILD_DIR) in (root, *root.parents) else "folder"
        raise SiteError(
            f"{root} is inside the {inside} of the paylink site {outer} — create the new site outside it,"
            f" or use that site with `paylink --site {outer} ...`"
        )
    if root.exists() and not root.is_dir():
        raise SiteError(f"{root} is a file, not a folder — choose another path")


def init_site(root: Path, settings: Settings) -> Site:
    """Create a new site folder with settings, an empty ledger and a fresh key.

    Refuses to touch a folder that already holds any part of a site. Nothing is
    written until every setting has been validated.
    """
    from . import storage, tokens

    settings = settings.validated()
    root = root.expanduser().absolute()
    check_new_site_folder(root)
    if not root.is_dir():
        root.mkdir(parents=True)
        os.chmod(root, 0o755)  # nobody else may add or replace a site's files, whatever the umask
    site = Site(root)
    # O_EXCL with mode 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(site.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as key_file:
        key_file.write(tokens.new_key() + "\n")
        key_file.flush()
        os.fsync(key_file.fileno())
    conn = storage.connect(site.db_path)
    try:
        storage.record_currency(conn, settings.currency)
    finally:
        conn.close()
    if not site.build_dir.is_dir():
        site.build_dir.mkdir()
        os.chmod(site.build_dir, 0o755)
    temp = site.settings_path.with_name(f".{SETTINGS_FILE}.tmp")
    # 0644 whatever the umask: a static host may read it, nobody else may change the phone customers see.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, SETTINGS_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as settings_file:
        os.fchmod(settings_file.fileno(), SETTINGS_MODE)
        settings_file.write(settings.to_toml())
    os.replace(temp, site.settings_path)
    return site
