"""Where a site's templates, assets and catalogs are, and the assets' content-hashed names.

Light on purpose (no Jinja, no Babel, no page facts): a no-op ``paylink build``
checks the assets and the templates' files through this module without loading
the renderer, which uses the same functions to find what it draws with.
"""

from pathlib import Path

from . import layout
from .i18n import locale_dir

ASSET_FILES = ("paylink.css", "tips.js", "favicon.svg")
# A site with [[pay]] methods also serves these (a site without them keeps exactly its files and bytes).
PAY_ASSET_FILES = ("pay.css", "pay.js")


def builtin_templates_dir() -> Path:
    """The templates that ship with paylink."""
    # Installed as paylink.site_templates (package-dir); mypy reads the repo's folders, where it is a sibling.
    from . import site_templates  # type: ignore[attr-defined]

    return Path(site_templates.__file__).parent


def template_dirs(override_dir: Path | None) -> list[Path]:
    """Where a site's templates are looked for: its own folder (if it exists), then paylink's."""
    return [d for d in (override_dir, builtin_templates_dir()) if d is not None and d.is_dir()]


def catalog_files() -> list[Path]:
    """The compiled catalogs of every shipped language."""
    return [locale_dir() / language / "LC_MESSAGES" / "messages.mo" for language in layout.LANGUAGES]


def source(folders: list[Path], name: str) -> bytes:
    """Return the bytes of a template or asset file, from the first of ``folders`` that has it."""
    for folder in folders:
        path = folder / name
        if path.is_file():
            return path.read_bytes()
    raise FileNotFoundError(f"template {name} not found in {', '.join(map(str, folders))}")


def named_assets(folders: list[Path], pay: bool) -> dict[str, tuple[str, bytes]]:
    """Each asset's content-hashed name (inside ``assets/``) with its file name and bytes (the pay assets
    only for a site with [[pay]] methods)."""
    named = {}
    for file_name in ASSET_FILES + (PAY_ASSET_FILES if pay else ()):
        data = source(folders, file_name)
        named[layout.asset_name(file_name, data)] = (file_name, data)
    return named
