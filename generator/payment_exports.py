"""The payment exports paylink reads, each turned into the payments it holds (see ``payments``).

PayPal's activity CSV, Venmo's statement CSV, Stripe's payments and Checkout
Sessions CSVs, ISO 20022 camt.053 statements (XML, parsed by defusedxml: no
DTD, no entities) and a plain ``date,amount,reference[,id,name]`` CSV. A file's
format is found from its header. Each row becomes a ``Received`` (money in,
completed, in the site's currency), a ``Skip`` saying why it is not one, or
the text of what is wrong with it; the caller decides what to post.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from .errors import ImportFailed, PaylinkError, quoted
from .ledger import MAX_KEY
from .money import parse_amount
from .references import reference_key
from .spreadsheet import CellReader

ROW_ID = "row:"  # the id of a plain CSV row that has none: the row's own values

# The formats, by the name --format takes, with the service a payment came through.
FORMATS = ("paypal", "venmo", "stripe", "stripe-checkout", "camt053", "plain")

# Why a payment was not posted, as the owner reads it (the stderr breakdown), in a stable order.
ALREADY = "already imported"
FEE = "fee"
REFUND = "refund"
DEBIT = "money sent"
NOT_COMPLETED = "not completed"
OTHER_CURRENCY = "other currency"
NOT_A_PAYMENT = "not a payment"
SKIP_REASONS = (ALREADY, FEE, REFUND, DEBIT, NOT_COMPLETED, OTHER_CURRENCY, NOT_A_PAYMENT)


@dataclass(frozen=True)
class Received:
    """One payment read from a file: money in, completed, in the site's currency."""

    line: int
    service: str  # what the id is unique within: "paypal", "stripe", "bank:IBAN", ...
    payment_id: str
    amount_minor: int
    day: str  # the payment's date as the file writes it (a CellReader reads it), or "" for today
    texts: tuple[str, ...]  # where a reference may be written, most specific first
    name: str = ""
    exact: str = ""  # a field that is the reference and nothing else (client_reference_id, a creditor reference)
    description: str = ""  # which credit it becomes: a key of payments.DESCRIPTIONS


class Skip:
    """A row that is not a payment received (``reason``), or a row that carries nothing at all (None)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str | None):
        self.reason = reason


NOTHING = Skip(None)
Row = tuple[int, "Received | Skip | str"]  # (line, the payment, a skip, or what is wrong with the row)


def read_export(
    name: str, data: bytes, file_format: str | None, *, currency: str, cells: CellReader
) -> tuple[str, Iterator[Row]]:
    """The file's format and its rows; ImportFailed when the file as a whole cannot be read."""
    if file_format is not None and file_format not in FORMATS:
        raise ImportFailed(f"format {quoted(file_format)} is not one paylink reads — use one of {', '.join(FORMATS)}")
    looks_xml = data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    if file_format == "camt053" or (file_format is None and looks_xml):
        return "camt053", iter(_camt053_rows(name, data, currency))
    text = _text(name, data)
    header_at, header, delimiter, found = _find_header(text)
    fmt = file_format or found
    if fmt is None:
        raise ImportFailed(
            f"{name}: not a payments export paylink knows — give a PayPal, Venmo or Stripe CSV, a camt.053"
            " statement, or a CSV with the header date,amount,reference (or name the format with --format)"
        )
    reader = _CSV_FORMATS[fmt]
    missing = [c for c in reader.required if c not in header]
    if missing:
        raise ImportFailed(
            f"{name} line {header_at or 1}: the header lacks the column {missing[0]!r} that a {fmt} file has"
            " — export the file again with that column"
        )
    return fmt, _csv_rows(text, header_at, header, delimiter, reader, currency=currency, cells=cells)


def _text(name: str, data: bytes) -> str:
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            f"{name} line {line}: byte {body[exc.start]:#04x} is not UTF-8 text — save the file as UTF-8"
        ) from exc


def _column(name: str) -> str:
    """A header cell as compared: lower case, words only (``Created (UTC)`` → ``created utc``); the plain
    format's columns may be in Spanish (``fecha,importe,referencia,id,nombre``)."""
    words = " ".join(re.split(r"[^0-9a-zà-ÿ]+", name.casefold())).strip()
    return _SPANISH.get(words, words)


_SPANISH = {"fecha": "date", "importe": "amount", "referencia": "reference", "nombre": "name", "moneda": "currency"}


_HEADER_LINES = 12  # Venmo's header is on the third line; any export's within the first dozen


def _find_header(text: str) -> tuple[int, list[str], str, str | None]:
    """(line number, header columns, delimiter, format) of the first line that is a known export's header."""
    first: tuple[int, list[str], str] | None = None
    for number, line in enumerate(text.splitlines()[:_HEADER_LINES], start=1):
        if not line.strip():
            continue
        delimiter = ";" if line.count(";") > line.count(",") else ","
        try:
            cells = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            continue
        columns = [_column(c) for c in cells]
        if first is None:
            first = (number, columns, delimiter)
        for fmt, reader in _CSV_FORMATS.items():
            if reader.signature <= set(columns):
                return number, columns, delimiter, fmt
    number, columns, delimiter = first or (1, [], ",")
    return number, columns, delimiter, None


@dataclass(frozen=True)
class _CsvFormat:
    signature: frozenset[str]  # columns that tell this export from the others
    required: tuple[str, ...]  # columns a row is read from
    row: Callable[..., Received | Skip | str]


def _csv_rows(
    text: str,
    header_at: int,
    header: list[str],
    delimiter: str,
    fmt: _CsvFormat,
    *,
    currency: str,
    cells: CellReader,
) -> Iterator[Row]:
    """Each row after the header, as a dict of its columns, read by the format's row reader."""
    handle = io.StringIO(text, newline="")
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        for _skipped in range(header_at):
            next(reader)
    except (StopIteration, csv.Error):
        return
    line = reader.line_num + 1
    width = len(header)
    try:
        for values in reader:
            start, line = line, reader.line_num + 1
            if not "".join(values).strip():
                continue
            if len(values) < width:
                values = values + [""] * (width - len(values))  # Venmo's balance rows stop early
            row = dict(zip(header, values, strict=False))
            try:
                yield start, fmt.row(row, currency=currency, cells=cells, line=start)
            except PaylinkError as exc:
                yield start, str(exc)
    except csv.Error as exc:
        yield line, f"not readable CSV ({exc}) — check the quotes, save the file as UTF-8 CSV"


def _signed_amount(text: str, cells: CellReader) -> tuple[int, int]:
    """(sign, minor units) of an export's amount: ``-12.00``, ``+ $20.00``, ``- $1,200.00``, ``(5.00)``."""
    raw = text.strip()
    sign = 1
    if raw.startswith(("-", "−")):
        sign, raw = -1, raw[1:].strip()
    elif raw.startswith("+"):
        raw = raw[1:].strip()
    elif raw.startswith("(") and raw.endswith(")"):
        sign, raw = -1, raw[1:-1].strip()
    if raw.startswith("$") and raw[1:2] in ("-", "−"):  # "$-12.00"
        sign, raw = -1, "$" + raw[2:]
    return sign, cells.amount(raw)


def _id(text: str, what: str) -> str:
    ident = text.strip()
    if not ident:
        raise ImportFailed(f"the {what} is empty — export the file again with it")
    if len(ident) > MAX_KEY - 40 or not ident.isprintable():
        raise ImportFailed(f"the {what} {quoted(ident)} is not an id paylink can keep — export the file again")
    return ident


def _local_day(text: str, timezone: str) -> str:
    """The site's local date of an ISO time in UTC (``2026-03-01T02:30:00`` → ``2026-02-28`` in New York)."""
    raw = text.strip()
    if not raw:
        return ""
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw  # not ISO: the CellReader reads it as a date, or names it
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat()


def _paypal_row(row: dict[str, str], *, currency: str, cells: CellReader, line: int) -> Received | Skip | str:
    kind = row.get("type", "").casefold()
    if row.get("status", "").strip().casefold() != "completed":
        return Skip(NOT_COMPLETED)
    if "refund" in kind or "reversal" in kind or "chargeback" in kind:
        return Skip(REFUND)
    if "fee" in kind:
        return Skip(FEE)
    if row.get("currency", "").strip().upper() != currency:
        return Skip(OTHER_CURRENCY)
    sign, amount = _signed_amount(row.get("gross", ""), cells)
    if sign < 0:
        return Skip(DEBIT)
    if "payment" not in kind:
        return Skip(NOT_A_PAYMENT)  # a currency conversion, a deposit from a bank, a hold released
    texts = tuple(row.get(c, "") for c in ("subject", "note", "item title", "invoice number", "custom number"))
    return Received(
        line,
        "paypal",
        _id(row.get("transaction id", ""), "Transaction ID"),
        amount,
        row.get("date", ""),
        texts,
        name=row.get("name", "").strip(),
        description="paypal",
    )


def _venmo_row(row: dict[str, str], *, currency: str, cells: CellReader, line: int) -> Received | Skip | str:
    if not row.get("id", "").strip():
        return NOTHING  # the statement's balance and disclaimer rows
    kind = row.get("type", "").casefold()
    if row.get("status", "").strip().casefold() not in ("complete", "completed"):
        return Skip(NOT_COMPLETED)
    if "refund" in kind:
        return Skip(REFUND)
    if currency != "USD":
        return Skip(OTHER_CURRENCY)  # Venmo moves dollars only
    sign, amount = _venmo_amount(row.get("amount total", ""), cells)
    if sign < 0:
        return Skip(DEBIT)
    if "transfer" in kind:
        return Skip(NOT_A_PAYMENT)
    return Received(
        line,
        "venmo",
        _id(row["id"], "ID"),
        amount,
        _local_day(row.get("datetime", ""), cells.timezone),
        (row.get("note", ""),),
        name=row.get("from", "").strip(),
        description="venmo",
    )


_VENMO_AMOUNT = re.compile(r"([+-]) ?\$([0-9]{1,3}(?:,[0-9]{3})*|[0-9]+)(\.[0-9]{2})?\Z")


def _venmo_amount(text: str, cells: CellReader) -> tuple[int, int]:
    """Venmo writes every amount the American way, whatever the site's locale: ``+ $1,000.00``, ``- $25.00``."""
    match = _VENMO_AMOUNT.match(text.strip())
    if match is None:
        return _signed_amount(text, cells)  # not Venmo's own form: read it as the site's spreadsheet would
    sign = -1 if match.group(1) == "-" else 1
    return sign, parse_amount(match.group(2).replace(",", "") + (match.group(3) or ""), "USD")


def _stripe_row(row: dict[str, str], *, currency: str, cells: CellReader, line: int) -> Received | Skip | str:
    status = row.get("status", "").strip().casefold()
    if status in ("refunded",):
        return Skip(REFUND)
    if status not in ("paid", "succeeded", "partially refunded"):
        return Skip(NOT_COMPLETED)
    if row.get("currency", "").strip().upper() != currency:
        return Skip(OTHER_CURRENCY)
    _sign, amount = _signed_amount(row.get("amount", ""), cells)
    refunded_text = row.get("amount refunded", "").strip()
    refunded = 0 if refunded_text in ("", "0", "0.00", "0.0") else _signed_amount(refunded_text, cells)[1]
    if refunded >= amount:
        return Skip(REFUND)
    metadata = tuple(v for k, v in row.items() if k.endswith(" metadata"))
    exact = next((v for k, v in row.items() if k in _STRIPE_REFERENCE_METADATA and v.strip()), "")
    # The PaymentIntent is the id the payments export and the Checkout Sessions export share.
    payment_id = row.get("paymentintent id", "").strip() or row.get("payment intent", "").strip() or row.get("id", "")
    return Received(
        line,
        "stripe",
        _id(payment_id, "id"),
        amount - refunded,
        _local_day(row.get("created utc", ""), cells.timezone),
        (*metadata, row.get("description", ""), row.get("customer description", "")),
        name=(row.get("customer description") or row.get("card name") or row.get("customer email") or "").strip(),
        exact=exact,
        description="stripe",
    )


_STRIPE_REFERENCE_METADATA = {"client reference id metadata", "reference metadata", "client reference id"}


def _stripe_checkout_row(row: dict[str, str], *, currency: str, cells: CellReader, line: int) -> Received | Skip | str:
    payment_status = row.get("payment status", "paid").strip().casefold()
    status = row.get("status", "complete").strip().casefold()
    if payment_status != "paid" or status not in ("complete", "completed"):
        return Skip(NOT_COMPLETED)
    if row.get("currency", "").strip().upper() != currency:
        return Skip(OTHER_CURRENCY)
    amount_text = row.get("amount total") or row.get("amount") or ""
    _sign, amount = _signed_amount(amount_text, cells)
    payment_id = row.get("payment intent", "").strip() or row.get("paymentintent id", "").strip() or row.get("id", "")
    return Received(
        line,
        "stripe",
        _id(payment_id, "id"),
        amount,
        _local_day(row.get("created utc") or row.get("created") or "", cells.timezone),
        (row.get("description", ""),),
        name=(row.get("customer name") or row.get("customer email") or "").strip(),
        exact=row.get("client reference id", ""),
        description="stripe",
    )


def _plain_row(row: dict[str, str], *, currency: str, cells: CellReader, line: int) -> Received | Skip | str:
    written = row.get("currency", "").strip().upper()
    if written and written != currency:
        return Skip(OTHER_CURRENCY)
    sign, amount = _signed_amount(row.get("amount", ""), cells)
    if sign < 0:
        return Skip(DEBIT)
    reference = row.get("reference", "")
    ident = row.get("id", "").strip()
    if not ident:
        # No id: the row itself is the id (the n-th of equal rows gets #n on import), so the same
        # file imported again posts nothing, and two equal payments in it post twice.
        values = (row.get("date", "").strip(), str(amount), reference.strip(), row.get("name", "").strip())
        ident = ROW_ID + "|".join(values)
    return Received(
        line,
        "plain",
        _id(ident[: MAX_KEY - 41], "id"),
        amount,
        row.get("date", ""),
        (reference,),
        name=row.get("name", "").strip(),
        description="plain",
    )


_CSV_FORMATS: dict[str, _CsvFormat] = {
    "venmo": _CsvFormat(
        frozenset({"id", "datetime", "amount total"}), ("id", "datetime", "type", "status", "amount total"), _venmo_row
    ),
    "paypal": _CsvFormat(
        frozenset({"transaction id", "gross", "net"}),
        ("date", "type", "status", "currency", "gross", "transaction id"),
        _paypal_row,
    ),
    "stripe-checkout": _CsvFormat(
        frozenset({"id", "client reference id"}), ("id", "currency", "client reference id"), _stripe_checkout_row
    ),
    "stripe": _CsvFormat(
        frozenset({"id", "created utc", "amount", "status"}),
        ("id", "created utc", "amount", "currency", "status"),
        _stripe_row,
    ),
    "plain": _CsvFormat(frozenset({"date", "amount", "reference"}), ("date", "amount", "reference"), _plain_row),
}


# --- camt.053 ------------------------------------------------------------------------

_CAMT053 = re.compile(r"\{urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(0[2-8])\}Document\Z")
_LINED = (b"Ntry", b"TxDtls")  # the elements a row is named by
# Where an element name could appear without being an element: comments, CDATA, processing instructions.
_NOT_MARKUP = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", re.DOTALL)
_START_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(Ntry|TxDtls)[\s/>]")


def _xml_tree(name: str, data: bytes) -> ElementTree.Element:
    """Parse with defusedxml (no DTD, no entities, nothing external): a statement has none of them."""
    import defusedxml
    from defusedxml import ElementTree as SafeElementTree

    try:
        return SafeElementTree.fromstring(data, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise ImportFailed(
            f"{name}: the XML declares a DTD or entities ({type(exc).__name__}), which paylink refuses"
            " — a bank statement has none; download the statement from your bank again"
        ) from exc
    except ElementTree.ParseError as exc:
        raise ImportFailed(
            f"{name} line {exc.position[0]}: not well-formed XML ({str(exc).split(':')[0]})"
            " — download the statement from your bank again"
        ) from exc


def _start_lines(data: bytes) -> dict[bytes, list[int]]:
    """The line of each ``Ntry`` and ``TxDtls`` start tag, in document order (ElementTree keeps no lines).

    Comments, CDATA and processing instructions are blanked first (their line
    ends kept), so the n-th tag found is the n-th element the parser made.
    """
    markup = _NOT_MARKUP.sub(lambda m: b"\n" * m.group().count(b"\n"), data)
    lines: dict[bytes, list[int]] = {tag: [] for tag in _LINED}
    line, at = 1, 0
    for match in _START_TAG.finditer(markup):
        line += markup.count(b"\n", at, match.start())
        at = match.start()
        lines[match.group(1)].append(line)
    return lines


class _Camt:
    """One camt.053 document: its namespace, and the line each entry and transaction starts on."""

    def __init__(self, root: ElementTree.Element, data: bytes):
        self.ns = root.tag[: root.tag.index("}") + 1]
        self.lines: dict[ElementTree.Element, int] = {}
        self.paths: dict[str, str] = {}
        starts = _start_lines(data)
        for tag in _LINED:
            elements = root.iter(self.ns + tag.decode())
            self.lines.update(zip(elements, starts[tag], strict=False))

    def path(self, path: str) -> str:
        """``BookgDt/Dt`` in the document's namespace (made once per path: each entry asks for a dozen)."""
        found = self.paths.get(path)
        if found is None:
            found = self.paths[path] = "/".join(self.ns + step for step in path.split("/"))
        return found

    def find(self, element: ElementTree.Element, path: str) -> ElementTree.Element | None:
        return element.find(self.path(path))

    def all(self, element: ElementTree.Element, path: str) -> list[ElementTree.Element]:
        return element.findall(self.path(path))

    def value(self, element: ElementTree.Element | None, path: str) -> str:
        if element is None:
            return ""
        return (element.findtext(self.path(path)) or "").strip()

    def first_text(self, element: ElementTree.Element, tag: str) -> str:
        """The first non-empty text of a ``tag`` anywhere under ``element`` (``Ref``, ``Nm``)."""
        return next((t.strip() for e in element.iter(self.ns + tag) if (t := e.text or "").strip()), "")


def _camt053_rows(name: str, data: bytes, currency: str) -> list[Row]:
    root = _xml_tree(name, data)
    if not _CAMT053.match(root.tag):
        raise ImportFailed(
            f"{name}: not an ISO 20022 camt.053 statement (versions 001.02 to 001.08) — download the"
            " account statement as camt.053 XML"
        )
    doc = _Camt(root, data)
    rows: list[Row] = []
    for stmt in doc.all(root, "BkToCstmrStmt/Stmt"):
        account = doc.value(stmt, "Acct/Id/IBAN") or doc.value(stmt, "Acct/Id/Othr/Id")
        service = f"bank:{reference_key(account)}" if account else "bank"
        for entry in doc.all(stmt, "Ntry"):
            rows.extend(_camt_entry(doc, entry, service, currency))
    return rows


def _camt_entry(doc: _Camt, entry: ElementTree.Element, service: str, currency: str) -> list[Row]:
    line = doc.lines.get(entry, 0)
    status = doc.value(entry, "Sts") or doc.value(entry, "Sts/Cd")
    if status.upper() != "BOOK":
        return [(line, Skip(NOT_COMPLETED))]
    if doc.value(entry, "RvslInd").lower() in ("true", "1"):
        return [(line, Skip(REFUND))]
    if doc.value(entry, "CdtDbtInd") != "CRDT":
        return [(line, Skip(DEBIT))]
    amount_element = doc.find(entry, "Amt")
    if amount_element is None or amount_element.get("Ccy", "").upper() != currency:
        return [(line, Skip(OTHER_CURRENCY))]
    day = doc.value(entry, "BookgDt/Dt") or doc.value(entry, "BookgDt/DtTm")[:10] or doc.value(entry, "ValDt/Dt")
    details = doc.all(entry, "NtryDtls/TxDtls")
    rows: list[Row] = []
    for index, tx in enumerate(details or [None]):
        tx_line = doc.lines.get(tx, line) if tx is not None else line
        try:
            if len(details) > 1:
                assert tx is not None
                tx_amount = doc.find(tx, "Amt")
                if tx_amount is None:
                    tx_amount = doc.find(tx, "AmtDtls/TxAmt/Amt")
                if tx_amount is None:
                    raise ImportFailed("a batch entry's transaction has no amount — download the statement again")
                if tx_amount.get("Ccy", "").upper() != currency:
                    rows.append((tx_line, Skip(OTHER_CURRENCY)))
                    continue
                amount = parse_amount((tx_amount.text or "").strip(), currency)
            else:
                amount = parse_amount((amount_element.text or "").strip(), currency)
            ids = [
                doc.value(tx, "Refs/AcctSvcrRef"),
                doc.value(entry, "AcctSvcrRef") + (f"/{index + 1}" if len(details) > 1 else ""),
                doc.value(tx, "Refs/EndToEndId"),
                doc.value(entry, "NtryRef"),
            ]
            ident = next((i for i in ids if i.strip("/") and i != "NOTPROVIDED"), "")
            if not ident:
                raise ImportFailed(
                    "the entry has no AcctSvcrRef, EndToEndId or NtryRef to tell it from another payment"
                    " — ask your bank for a statement with references"
                )
            remittance = doc.find(tx, "RmtInf") if tx is not None else None
            structured = doc.first_text(remittance, "Ref") if remittance is not None else ""
            unstructured = tuple(u.text or "" for u in doc.all(remittance, "Ustrd")) if remittance is not None else ()
            debtor = doc.find(tx, "RltdPties/Dbtr") if tx is not None else None
            name = doc.first_text(debtor, "Nm") if debtor is not None else ""
            texts = (*unstructured, doc.value(entry, "AddtlNtryInf"))
            received = Received(tx_line, service, _id(ident, "reference"), amount, day, texts, name, structured, "bank")
            rows.append((tx_line, received))
        except PaylinkError as exc:
            rows.append((tx_line, str(exc)))
    return rows
