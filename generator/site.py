"""A site: the folder that holds a business's settings, ledger, key and build output."""

import os
from functools import cached_property
from pathlib import Path

from . import tokens
from .errors import SiteError
from .layout import BUILD_DIR, DB_FILE, KEY_FILE, SETTINGS_FILE, SITE_ENV, TEMPLATES_DIR
from .settings import Settings, load_settings

SETTINGS_MODE = 0o644
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
        return load_settings(self.settings_path)

    def signer_keys(self) -> list[str]:
        """This site's signing keys, newest last (PAYLINK_SECRET_KEY overrides the key file)."""
        try:
            return tokens.load_keys(self.key_path)
        except tokens.NoSigningKey as exc:
            raise SiteError(f"{exc} — the key file holds one key per line, newest last") from exc

    @cached_property
    def signer(self) -> tokens.LinkSigner:
        """Signs and verifies this site's link tokens."""
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
    """Return the site named by --site, else $PAYLINK_SITE, else the current folder."""
    where = explicit or os.environ.get(SITE_ENV) or "."
    root = Path(where).expanduser().absolute()
    if not (root / SETTINGS_FILE).is_file():
        raise SiteError(f"no paylink site in {root} — run `paylink init {where}` first, or pass --site DIR")
    return Site(root)


def init_site(root: Path, settings: Settings) -> Site:
    """Create a new site folder with settings, an empty ledger and a fresh key.

    Refuses to touch a folder that already holds any part of a site. Nothing is
    written until every setting has been validated.
    """
    from . import storage

    settings = settings.validated()
    root = root.expanduser().absolute()
    existing = [p for p in (SETTINGS_FILE, DB_FILE, KEY_FILE) if (root / p).exists()]
    if existing:
        raise SiteError(f"{root} already holds a paylink site ({existing[0]}) — choose another folder")
    if root.exists() and not root.is_dir():
        raise SiteError(f"{root} is a file, not a folder — choose another path")
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
    storage.connect(site.db_path).close()
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
