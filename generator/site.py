"""A site: the folder that holds a business's settings, ledger, key and build output.

``paylink.toml`` is read with tomllib and validated on every load, so a typo in
a currency, locale or time zone is an error at the command that meets it rather
than a broken page later.
"""

import json
import os
import re
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from pathlib import Path

from . import tokens
from .checks import clean_email, clean_line, clean_phone
from .errors import InvalidInput, SettingsError, SiteError
from .money import check_currency

SETTINGS_FILE = "paylink.toml"
DB_FILE = "paylink.db"
KEY_FILE = "paylink.key"
BUILD_DIR = "build"
TEMPLATES_DIR = "site_templates"
SITE_ENV = "PAYLINK_SITE"

_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?\Z")


@dataclass(frozen=True)
class Settings:
    """The business's settings from paylink.toml."""

    name: str
    currency: str = "USD"
    locale: str = "en_US"
    timezone: str = "UTC"
    base_url: str = "http://127.0.0.1:8000"
    phone: str | None = None
    email: str | None = None

    def validated(self) -> "Settings":
        """Return these settings normalised (currency upper case, no trailing slash), or raise SettingsError."""
        try:
            name = clean_line(self.name, "business name", 120)
            phone, email = clean_phone(self.phone), clean_email(self.email)
        except InvalidInput as exc:
            raise SettingsError(str(exc)) from exc
        return replace(
            self,
            name=name,
            currency=check_currency(self.currency),
            locale=check_locale(self.locale),
            timezone=check_timezone(self.timezone),
            base_url=check_base_url(self.base_url),
            phone=phone,
            email=email,
        )

    def to_toml(self) -> str:
        """Return the settings as paylink.toml text."""
        lines = ["# paylink site settings — edit, then run `paylink build`"]
        for key, value in asdict(self).items():
            if value is not None:
                # A JSON string with ensure_ascii=False is a valid TOML basic string here:
                # clean_line has already refused the control characters TOML forbids raw.
                lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        return "\n".join(lines) + "\n"


def check_locale(locale: str) -> str:
    """Return the locale in Babel's form (``en_US``), or raise SettingsError."""
    from babel import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(locale.strip().replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise SettingsError(f"unknown locale {locale!r} — use a code such as en_US, de_DE or ja_JP") from exc


def check_timezone(timezone: str) -> str:
    """Return the IANA time zone name, or raise SettingsError."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = timezone.strip()
    try:
        if not name or name.startswith(("/", ".")):
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise SettingsError(
            f"unknown time zone {timezone!r} — use an IANA name such as America/New_York or Europe/Berlin"
        ) from exc
    return name


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise SettingsError."""
    text = url.strip().rstrip("/")
    if not _URL_RE.match(text):
        raise SettingsError(
            f"base URL {url!r} is not an http(s) address — use one like https://pay.example.com"
        )
    return text


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
        try:
            raw = tomllib.loads(self.settings_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SiteError(f"{self.settings_path} is missing — run `paylink init {self.root}`") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{self.settings_path} is not valid TOML ({exc}) — fix the file") from exc
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingsError(
                f"{self.settings_path}: unknown setting {unknown[0]!r} — the settings are {', '.join(sorted(known))}"
            )
        for key, value in raw.items():
            if not isinstance(value, str):
                raise SettingsError(f"{self.settings_path}: {key} must be a quoted string")
        if "name" not in raw:
            raise SettingsError(f"{self.settings_path}: name is missing — add name = \"Your Business\"")
        try:
            return Settings(**raw).validated()
        except SettingsError as exc:
            raise SettingsError(f"{self.settings_path}: {exc}") from exc

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
        return storage.connect(self.db_path)

    def link_url(self, nonce: str) -> str:
        """The customer-facing URL for a link."""
        return f"{self.settings.base_url}/p/{self.signer.sign(nonce)}"


def find_site(explicit: str | os.PathLike | None = None) -> Site:
    """Return the site named by --site, else $PAYLINK_SITE, else the current folder."""
    where = explicit or os.environ.get(SITE_ENV) or "."
    root = Path(where).expanduser().absolute()
    if not (root / SETTINGS_FILE).is_file():
        raise SiteError(
            f"no paylink site in {root} — run `paylink init {where}` first, or pass --site DIR"
        )
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
    root.mkdir(parents=True, exist_ok=True)
    site = Site(root)
    # O_EXCL with mode 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(site.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as key_file:
        key_file.write(tokens.new_key() + "\n")
        key_file.flush()
        os.fsync(key_file.fileno())
    storage.connect(site.db_path).close()
    site.build_dir.mkdir(exist_ok=True)
    temp = site.settings_path.with_name(f".{SETTINGS_FILE}.tmp")
    temp.write_text(settings.to_toml(), encoding="utf-8")
    os.replace(temp, site.settings_path)
    return site
