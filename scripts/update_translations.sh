#!/usr/bin/env bash
# Extract every page and message text, update the catalogs, fill the English one, compile.
#   ./scripts/update_translations.sh
# Then translate the new or changed texts in site_templates/locale/es/LC_MESSAGES/messages.po
# (every plural form: Spanish has three), run this again to compile, and commit the .po and .mo
# files (an installed paylink uses the shipped .mo files; nothing compiles them at install).
# tests/test_i18n.py fails while any text of a shipped language is untranslated.
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
PYTHON="${PYTHON:-.venv/bin/python}"
LOCALE=site_templates/locale
POT="$LOCALE/messages.pot"
mkdir -p "$LOCALE"

"$PYBABEL" extract -F babel.cfg --add-location=file --sort-by-file --width=100 \
    --project=paylink --copyright-holder="paylink authors" -c TRANSLATORS: \
    -o "$POT" .
for language in en es; do
    catalog="$LOCALE/$language/LC_MESSAGES/messages.po"
    if [ -f "$catalog" ]; then
        "$PYBABEL" update -i "$POT" -d "$LOCALE" -l "$language" --width=100 --no-fuzzy-matching --ignore-obsolete
    else
        "$PYBABEL" init -i "$POT" -d "$LOCALE" -l "$language" --width=100
    fi
done

# English is the source language: each text is its own translation.
"$PYTHON" - "$LOCALE/en/LC_MESSAGES/messages.po" <<'PY'
import sys
from babel.messages.pofile import read_po, write_po

path = sys.argv[1]
with open(path, "rb") as f:
    catalog = read_po(f, locale="en")
for message in catalog:
    if not message.id:
        continue
    if isinstance(message.id, (list, tuple)):
        singular, plural = message.id
        message.string = tuple(singular if i == 0 else plural for i in range(catalog.num_plurals))
    else:
        message.string = message.id
with open(path, "wb") as f:
    write_po(f, catalog, width=100, include_previous=False)
PY

"$PYBABEL" compile -d "$LOCALE" --statistics
