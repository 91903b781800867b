"""The ways a customer can pay (``[[pay]]`` in paylink.toml): their checks and their payloads.

Each method turns an amount (minor units) and the customer's payment reference
into what its own standard defines: an EPC069-12 GiroCode, a Swiss QR-bill, a
``upi://pay`` link, a Pix BR Code, or a link to PayPal.me, Venmo, Cash App, a
Stripe Payment Link or any other service. None of them needs a secret.

Settings are checked once, when paylink.toml loads (``check_pay``); the page's
block of options is drawn by ``PayBlock`` (one per renderer: it keeps the QR
codes it drew, by payload). Pure: nothing here prints or writes a file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote

from .checks import clean_line, has_control
from .errors import InvalidInput, SettingsError, quoted
from .money import major_string

# Currencies PayPal takes (developer.paypal.com/docs/reports/reference/paypal-supported-currencies).
PAYPAL_CURRENCIES = frozenset(
    "AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN GBP SGD SEK CHF THB USD".split()
)


class MethodSpec(NamedTuple):
    required: tuple[str, ...]
    optional: tuple[str, ...]
    currencies: frozenset[str] | None  # None: any


METHODS: dict[str, MethodSpec] = {
    "sepa": MethodSpec(("iban", "name"), ("bic",), frozenset({"EUR"})),
    "swiss_qr": MethodSpec(("iban", "name", "address"), (), frozenset({"CHF", "EUR"})),
    "upi": MethodSpec(("vpa", "name"), (), frozenset({"INR"})),
    "pix": MethodSpec(("key", "name", "city"), (), frozenset({"BRL"})),
    "paypal": MethodSpec(("handle",), (), PAYPAL_CURRENCIES),
    "venmo": MethodSpec(("handle",), (), frozenset({"USD"})),
    "cashapp": MethodSpec(("cashtag",), (), frozenset({"USD", "GBP"})),
    "stripe": MethodSpec(("url",), (), None),
    "link": MethodSpec(("url", "label"), (), None),
    "bank": MethodSpec(("details",), (), None),
}
# The texts to copy that change with the amount (the rest are the same for every tip).
AMOUNT_TEXTS = frozenset({"pix"})
# The methods whose option shows a QR code.
QR_METHODS = frozenset({"sepa", "swiss_qr", "upi", "pix"})

_VPA_RE = re.compile(r"[A-Za-z0-9._-]{2,256}@[A-Za-z][A-Za-z0-9]{1,63}\Z")
_PAYPAL_RE = re.compile(r"[A-Za-z0-9]{1,20}\Z")
_VENMO_RE = re.compile(r"[A-Za-z0-9_-]{5,30}\Z")
_CASHTAG_RE = re.compile(r"(?=[0-9]*[A-Za-z])[A-Za-z0-9_-]{1,20}\Z")
_HTTPS_RE = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/?{}-]*)?\Z")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
LINK_PLACEHOLDERS = ("amount", "amount_minor", "currency", "reference")
_EVP_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_PIX_PHONE_RE = re.compile(r"\+55[0-9]{10,11}\Z")
_PIX_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_SWISS_ADDRESS_RE = re.compile(
    r"(?P<street>[^,]+),\s*(?P<pcode>[0-9]{4,5})\s+(?P<city>[^,]+?)(?:,\s*(?P<country>[A-Z]{2}))?\Z"
)


@dataclass(frozen=True)
class PayMethod:
    """One ``[[pay]]`` table: the method's name and its public details (checked by ``check_pay``)."""

    method: str
    details: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        for key, value in self.details:
            if key == name:
                return value
        return None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value


# --- settings --------------------------------------------------------------------------


def from_toml(tables: object) -> tuple[PayMethod, ...]:
    """The ``[[pay]]`` tables as PayMethods (shape only; ``check_pay`` checks the values)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SettingsError('pay must be tables, one per method: [[pay]] then method = "venmo" …')
    methods = []
    for number, table in enumerate(tables, start=1):
        method = table.get("method")
        if not isinstance(method, str) or method not in METHODS:
            raise SettingsError(
                f"[[pay]] {number}: method {quoted(method)} is not one paylink knows — use one of {', '.join(METHODS)}"
            )
        where = f"[[pay]] {number} ({method})"
        details = []
        for key, value in table.items():
            if key == "method":
                continue
            if not isinstance(value, str):
                raise SettingsError(f"{where}: {key[:40]} must be a quoted string")
            details.append((key, value))
        methods.append(PayMethod(method, tuple(details)))
    return tuple(methods)


def check_pay(methods: Iterable[PayMethod], currency: str) -> tuple[PayMethod, ...]:
    """Return the methods with their details checked and normalised, or raise SettingsError naming the table."""
    checked = []
    for number, method in enumerate(methods, start=1):
        where = f"[[pay]] {number} ({method.method})"
        spec = METHODS.get(method.method)
        if spec is None:
            raise SettingsError(f"[[pay]] {number}: method {quoted(method.method)} is not one paylink knows")
        given = dict(method.details)
        unknown = sorted(set(given) - set(spec.required) - set(spec.optional))
        if unknown:
            raise SettingsError(
                f"{where}: unknown setting {unknown[0][:40]!r} — {method.method} takes "
                f"{', '.join(spec.required + spec.optional)}"
            )
        missing = [k for k in spec.required if not (given.get(k) or "").strip()]
        if missing:
            raise SettingsError(f'{where}: {missing[0]} is missing — add {missing[0]} = "…" to this table')
        if spec.currencies is not None and currency not in spec.currencies:
            raise SettingsError(
                f"{where}: {method.method} does not take {currency} — it takes {', '.join(sorted(spec.currencies))};"
                " remove this method or use another"
            )
        for key, value in given.items():
            if has_control(value.strip(" \t\r\n")):
                raise SettingsError(f"{where}: {key} contains a control character — use one plain line")
        try:
            details = _CHECKS[method.method](given, currency)
        except InvalidInput as exc:
            raise SettingsError(f"{where}: {exc}") from exc
        checked.append(PayMethod(method.method, tuple((k, v) for k, v in details.items() if v)))
    return tuple(checked)


def _iban(value: str, countries: Sequence[str] | None = None) -> str:
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        iban = IBAN(value).compact
    except (SchwiftyException, ValueError) as exc:
        raise InvalidInput(
            f"iban {quoted(value)} is not a valid IBAN ({exc}) — copy it from your bank's details"
        ) from exc
    if countries and iban[:2] not in countries:
        raise InvalidInput(
            f"iban {quoted(value)} is not from {' or '.join(countries)} — use your Swiss or Liechtenstein IBAN"
        )
    return iban


def _check_sepa(given: dict, currency: str) -> dict:
    out = {"iban": _iban(given["iban"]), "name": clean_line(given["name"], "name", 70)}
    if given.get("bic", "").strip():
        from schwifty import BIC
        from schwifty.exceptions import SchwiftyException

        try:
            out["bic"] = BIC(given["bic"]).compact
        except (SchwiftyException, ValueError) as exc:
            raise InvalidInput(
                f"bic {quoted(given['bic'])} is not a valid BIC ({exc}) — give 8 or 11 letters and digits, or leave it out"
            ) from exc
    return out


def _check_swiss_qr(given: dict, currency: str) -> dict:
    iban = _iban(given["iban"], ("CH", "LI"))
    if 30000 <= int(iban[4:9]) <= 31999:
        raise InvalidInput(
            f"iban {quoted(given['iban'])} is a QR-IBAN, which needs QR references — use the account's ordinary IBAN"
        )
    name = clean_line(given["name"], "name", 70)
    address = clean_line(given["address"], "address", 140)
    out = {"iban": iban, "name": name, "address": address}
    try:
        swiss_bill(out, currency, 100, "RF18539007547034")
    except InvalidInput:
        raise
    except ValueError as exc:
        raise InvalidInput(f"the Swiss QR-bill refuses these details ({exc}) — check iban, name and address") from exc
    return out


def _swiss_creditor(address: str, name: str) -> dict:
    match = _SWISS_ADDRESS_RE.match(address)
    if match is None:
        raise InvalidInput(
            f'address {quoted(address)} is not "street and number, postcode town" — e.g. "Rue du Lac 1268, 2501 Biel"'
        )
    return {
        "name": name,
        "street": match["street"].strip(),
        "pcode": match["pcode"],
        "city": match["city"].strip(),
        "country": match["country"] or "CH",
    }


def _check_upi(given: dict, currency: str) -> dict:
    vpa = given["vpa"].strip()
    if not _VPA_RE.match(vpa):
        raise InvalidInput(f"vpa {quoted(vpa)} is not a UPI address — use one like shop@okaxis")
    return {"vpa": vpa, "name": clean_line(given["name"], "name", 50)}


def _check_pix(given: dict, currency: str) -> dict:
    from stdnum.br import cnpj, cpf

    key = given["key"].strip()
    digits = re.sub(r"[.\-/ ]", "", key)
    if cpf.is_valid(digits) or cnpj.is_valid(digits):
        key = digits
    elif not (_EVP_RE.match(key.lower()) or _PIX_PHONE_RE.match(key) or (_PIX_EMAIL_RE.match(key) and len(key) <= 77)):
        raise InvalidInput(f"key {quoted(key)} is not a Pix key — use a CPF, CNPJ, email, phone (+55…) or random key")
    if _EVP_RE.match(key.lower()):
        key = key.lower()
    name = _pix_text(clean_line(given["name"], "name", 120), 25)
    city = _pix_text(clean_line(given["city"], "city", 120), 15)
    if not name or not city:
        raise InvalidInput("name and city must hold letters — write them as on the account")
    return {"key": key, "name": name, "city": city}


def _pix_text(text: str, limit: int) -> str:
    """A Pix name or city: ASCII (accents dropped), at most ``limit`` characters."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9 .-]", "", plain).strip()[:limit].strip()


def _check_handle(pattern: re.Pattern, example: str, what: str, strip: str) -> Callable[[dict, str], dict]:
    def check(given: dict, currency: str) -> dict:
        raw = given[what]
        value = raw.strip().lstrip(strip)
        if not pattern.match(value):
            raise InvalidInput(f"{what} {quoted(raw)} cannot be a {example} — copy it from your profile")
        return {what: value}

    return check


def _https(value: str, what: str = "url") -> str:
    text = value.strip()
    if not text.startswith("https://") or not _HTTPS_RE.match(text):
        raise InvalidInput(f"{what} {quoted(value)} is not an https address — use one like https://buy.stripe.com/…")
    return text


def _check_stripe(given: dict, currency: str) -> dict:
    url = _https(given["url"])
    if "?" in url or "#" in url:
        raise InvalidInput(f"url {quoted(url)} has a query — give the Payment Link itself (https://buy.stripe.com/…)")
    return {"url": url}


def _check_link(given: dict, currency: str) -> dict:
    url = _https(given["url"])
    for name in _PLACEHOLDER_RE.findall(url):
        if name not in LINK_PLACEHOLDERS:
            raise InvalidInput(
                f"url has an unknown placeholder {{{name[:40]}}} — use {', '.join('{' + p + '}' for p in LINK_PLACEHOLDERS)}"
            )
    if "{amount" not in url:
        raise InvalidInput("url has no {amount} or {amount_minor} — put the amount in the link, e.g. …?amount={amount}")
    return {"url": url, "label": clean_line(given["label"], "label", 60)}


def _check_bank(given: dict, currency: str) -> dict:
    return {"details": clean_line(given["details"], "details", 500)}


_CHECKS: dict[str, Callable[[dict, str], dict]] = {
    "sepa": _check_sepa,
    "swiss_qr": _check_swiss_qr,
    "upi": _check_upi,
    "pix": _check_pix,
    "paypal": _check_handle(_PAYPAL_RE, "PayPal.me name (up to 20 letters and digits)", "handle", "@"),
    "venmo": _check_handle(_VENMO_RE, "Venmo username (5–30 letters, digits, - or _)", "handle", "@"),
    "cashapp": _check_handle(_CASHTAG_RE, "Cash App $Cashtag (up to 20 letters and digits)", "cashtag", "$"),
    "stripe": _check_stripe,
    "link": _check_link,
    "bank": _check_bank,
}


def to_toml(methods: Sequence[PayMethod]) -> str:
    """The methods as ``[[pay]]`` tables (TOML text)."""
    import json

    out = []
    for method in methods:
        out.append(f"\n[[pay]]\nmethod = {json.dumps(method.method)}")
        out.extend(f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in method.details)
    return "\n".join(out) + "\n" if out else ""


# --- payloads --------------------------------------------------------------------------


class Payment(NamedTuple):
    """What one method offers for one amount: a link to open, a QR payload, texts to copy."""

    url: str | None
    qr: str | None  # the QR code's payload (the standard's text)
    copy: tuple[tuple[str, str], ...]  # (what, text)


class Payer:
    """Who pays: the customer's id, ref and email, and the references derived from them (each once: a page
    is drawn for a new Payer, so plain attributes, not cached properties with their lock)."""

    __slots__ = ("customer_id", "ref", "email", "reference", "_rf")

    def __init__(self, customer_id: int, ref: str | None, email: str | None = None):
        from .references import payment_reference

        self.customer_id, self.ref, self.email = customer_id, ref, email
        self.reference = payment_reference(customer_id, ref)
        self._rf: str | None = None

    @property
    def rf(self) -> str:
        """The ISO 11649 creditor reference (python-stdnum: only when a page or message needs it)."""
        if self._rf is None:
            from .references import rf_reference

            self._rf = rf_reference(self.customer_id, self.ref)
        return self._rf


def payment(method: PayMethod, amount_minor: int, currency: str, payer: Payer) -> Payment:
    """What ``method`` offers for ``amount_minor`` from this payer: exactly as its standard defines it."""
    return offers(method, currency, payer)(amount_minor, major_string(amount_minor, currency))


Offer = Callable[[int, str], Payment]  # (amount_minor, its money.major_string) -> what the method offers


def offers(method: PayMethod, currency: str, payer: Payer) -> Offer:
    """What ``method`` offers this payer for any amount, given in minor units and as ``major_string``: the
    parts that do not depend on the amount (references, account details, the start of each link) made once,
    so a page's tip choices each cost only their amount."""
    reference = payer.reference
    copy: tuple[tuple[str, str], ...] = (("reference", reference),)
    m = method.method
    if m in ("sepa", "swiss_qr"):
        rf = payer.rf
        copy = (("name", method["name"]), ("iban", method["iban"]))
        copy += (("bic", method["bic"]),) if method.get("bic") else ()
        copy += (("reference", rf),)
        if m == "sepa":
            head, tail = epc_parts(method, rf)
            return lambda amount_minor, amount: Payment(None, head + amount + tail, copy)
        start, end = swiss_parts(dict(method.details), currency, rf)

        def swiss(amount_minor: int, amount: str) -> Payment:
            if not 1 <= amount_minor <= SWISS_MAX_MINOR:
                raise ValueError(f"a Swiss QR-bill cannot carry {amount} {currency}")
            return Payment(None, start + amount + end, copy)

        return swiss
    if m == "upi":

        def upi(amount_minor: int, amount: str) -> Payment:
            uri = upi_uri(method, amount, reference)
            return Payment(uri, uri, copy)

        return upi
    if m == "pix":

        def pix(amount_minor: int, amount: str) -> Payment:
            code = pix_payload(method, amount, reference)
            return Payment(None, code, (("pix", code),))

        return pix
    if m == "paypal":
        start = f"https://paypal.me/{method['handle']}/"
        return lambda amount_minor, amount: Payment(f"{start}{amount}{currency}", None, copy)
    if m == "venmo":
        start, note = f"https://venmo.com/{method['handle']}?txn=pay&amount=", quote(reference, safe="")
        return lambda amount_minor, amount: Payment(f"{start}{amount}&note={note}", None, copy)
    if m == "cashapp":
        start = f"https://cash.app/${method['cashtag']}/"
        return lambda amount_minor, amount: Payment(f"{start}{amount}", None, copy)
    if m == "stripe":
        query = f"client_reference_id={quote(stripe_reference(reference), safe='')}"
        if payer.email:
            query += f"&prefilled_email={quote(payer.email, safe='')}"
        url = f"{method['url']}?{query}"
        return lambda amount_minor, amount: Payment(url, None, copy)
    if m == "link":

        def link(amount_minor: int, amount: str) -> Payment:
            values = {
                "amount": amount,
                "amount_minor": str(amount_minor),
                "currency": currency,
                "reference": reference,
            }
            url = _PLACEHOLDER_RE.sub(lambda match: quote(values[match.group(1)], safe=""), method["url"])
            return Payment(url, None, copy)

        return link
    if m == "bank":
        bank = Payment(None, None, (("details", method["details"]), ("reference", reference)))
        return lambda amount_minor, amount: bank
    raise ValueError(f"unknown pay method {m!r}")


_AMOUNT_HOLE = "\0"  # where a GiroCode's amount goes (no setting holds a control character)


def epc_fields(method: PayMethod, amount: str, rf: str, charset: str = "1") -> list[str]:
    """The EPC069-12 (version 002) fields, in order, for ``amount`` (euros, e.g. ``40.05``); the remittance
    is the structured RF reference."""
    return [
        "BCD",  # service tag
        "002",  # version
        charset,  # 1: UTF-8, 2: ISO 8859-1
        "SCT",  # SEPA credit transfer
        method.get("bic") or "",
        method["name"],
        method["iban"],
        f"EUR{amount}",
        "",  # purpose
        rf,  # structured remittance (ISO 11649)
        "",  # unstructured remittance (one or the other)
    ]


def epc_payload(method: PayMethod, amount_minor: int, rf: str) -> str:
    """The GiroCode's text: the EPC fields joined by LF (trailing empty fields dropped, as allowed).

    Its character set field says how ``qr_bytes`` encodes it: ISO 8859-1 where
    the name allows (what most banking apps expect), else UTF-8.
    """
    head, tail = epc_parts(method, rf)
    return head + major_string(amount_minor, "EUR") + tail


def epc_parts(method: PayMethod, rf: str) -> tuple[str, str]:
    """The GiroCode's text (``epc_payload``) before and after its amount (``money.major_string``)."""
    text = "\n".join(epc_fields(method, _AMOUNT_HOLE, rf, "2")).rstrip("\n")
    try:
        text.encode("iso-8859-1")
    except UnicodeEncodeError:
        text = "\n".join(epc_fields(method, _AMOUNT_HOLE, rf, "1")).rstrip("\n")
    head, tail = text.split(_AMOUNT_HOLE)
    return head, tail


def qr_bytes(method: str, payload: str) -> bytes:
    """The bytes a QR code carries for ``payload``: an EPC code in the character set its third field names;
    every other payload in UTF-8 (the Swiss QR-bill's; UPI and Pix are ASCII)."""
    if method == "sepa" and payload.split("\n", 3)[2] == "2":
        return payload.encode("iso-8859-1")
    return payload.encode("utf-8")


def swiss_bill(details: dict, currency: str, amount_minor: int | None, rf: str):
    """The Swiss QR-bill (qrbill.QRBill) for the amount (None: left open), with the RF reference (type SCOR)."""
    from qrbill import QRBill

    creditor = _swiss_creditor(details["address"], details["name"])
    return QRBill(
        account=details["iban"],
        creditor=creditor,
        amount=major_string(amount_minor, currency) if amount_minor is not None else None,
        currency=currency,
        reference_number=rf,
    )


# The largest amount a Swiss QR-bill carries (999,999,999.99), in minor units.
SWISS_MAX_MINOR = 99_999_999_999
_SWISS_AMOUNT = 18  # the amount's line in the QR-bill's text (SIX IG QR-bill 2.2: after account, creditors)


def swiss_parts(details: dict, currency: str, rf: str) -> tuple[str, str]:
    """The Swiss QR-bill's text (``swiss_bill(...).qr_data()``) before and after its amount
    (``money.major_string``): qrbill checks and writes the bill once, not once a tip (~200 us each)."""
    lines = swiss_bill(details, currency, None, rf).qr_data().split("\r\n")
    if lines[_SWISS_AMOUNT : _SWISS_AMOUNT + 2] != ["", currency]:
        raise ValueError("qrbill wrote a QR-bill paylink cannot read back")
    return "\r\n".join(lines[:_SWISS_AMOUNT]) + "\r\n", "\r\n" + "\r\n".join(lines[_SWISS_AMOUNT + 1 :])


def upi_uri(method: PayMethod, amount: str, reference: str) -> str:
    """``upi://pay?pa=…&pn=…&am=…&cu=INR&tn=…`` (NPCI's UPI linking specification)."""
    return (
        f"upi://pay?pa={quote(method['vpa'], safe='@')}&pn={quote(method['name'], safe='')}"
        f"&am={amount}&cu=INR&tn={quote(reference, safe='')}"
    )


def pix_txid(reference: str) -> str:
    """The Pix txid: the reference's letters and digits, at most 25 (``***`` when it has none)."""
    from .references import reference_key

    return reference_key(reference)[:25] or "***"


def _emv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), as the BR Code's field 63 uses."""
    import binascii

    return binascii.crc_hqx(data, 0xFFFF)  # the same CRC in C (a bit loop here took ~120 us a code)


def pix_payload(method: PayMethod, amount: str, reference: str) -> str:
    """The static Pix BR Code (EMV QRCPS merchant-presented mode), ending with its CRC16."""
    account = _emv("00", "br.gov.bcb.pix") + _emv("01", method["key"])
    body = (
        _emv("00", "01")
        + _emv("26", account)
        + _emv("52", "0000")
        + _emv("53", "986")
        + _emv("54", amount)
        + _emv("58", "BR")
        + _emv("59", method["name"])
        + _emv("60", method["city"])
        + _emv("62", _emv("05", pix_txid(reference)))
        + "6304"
    )
    return body + f"{crc16_ccitt(body.encode('utf-8')):04X}"


def stripe_reference(reference: str) -> str:
    """The reference as Stripe's client_reference_id takes it (letters, digits, - and _)."""
    from .references import reference_key

    return reference if re.fullmatch(r"[A-Za-z0-9_-]{1,200}", reference) else reference_key(reference) or "C"


def share_lines(methods: Sequence[PayMethod], amount_minor: int, currency: str, payer: Payer, gettext) -> list[str]:
    """One line per method for a text message or email: "Pay by Venmo: https://…" (QR-only methods by their details)."""
    from .money import major_string as plain

    amount = plain(amount_minor, currency)
    lines = []
    for method in methods:
        offer = payment(method, amount_minor, currency, payer)
        name = method_name(method, gettext)
        if method.method in ("bank", "stripe"):  # words, not a name: lower case inside a sentence
            name = name[:1].lower() + name[1:]
        if offer.url and not offer.url.startswith("upi:"):
            lines.append(gettext("Pay by %(method)s: %(link)s") % {"method": name, "link": offer.url})
        elif method.method in ("sepa", "swiss_qr"):  # a bank transfer with the RF reference
            lines.append(
                gettext(
                    "Pay by %(method)s: %(amount)s %(currency)s to IBAN %(iban)s (%(name)s), reference %(reference)s"
                )
                % {
                    "method": name,
                    "amount": amount,
                    "currency": currency,
                    "iban": method["iban"],
                    "name": method["name"],
                    "reference": payer.rf,
                }
            )
        elif method.method == "upi":
            lines.append(gettext("Pay by %(method)s: %(link)s") % {"method": name, "link": offer.url})
        elif method.method == "pix":
            lines.append(gettext("Pay by %(method)s (copy and paste): %(code)s") % {"method": name, "code": offer.qr})
        else:  # bank
            lines.append(
                gettext("Pay by %(method)s: %(amount)s %(currency)s to %(details)s, reference %(reference)s")
                % {
                    "method": name,
                    "amount": amount,
                    "currency": currency,
                    "details": method["details"],
                    "reference": payer.reference,
                }
            )
    return lines


def method_name(method: PayMethod, gettext) -> str:
    """The method's name as a customer knows it (translated where it is words)."""
    names = {
        "sepa": gettext("SEPA bank transfer"),
        "swiss_qr": gettext("Swiss QR-bill"),
        "upi": "UPI",
        "pix": "Pix",
        "paypal": "PayPal",
        "venmo": "Venmo",
        "cashapp": "Cash App",
        "stripe": gettext("Card (Stripe)"),
        "bank": gettext("Bank transfer"),
    }
    if method.method == "link":
        return method["label"]
    return names[method.method]


# --- the page's block ------------------------------------------------------------------


class PayVariant(NamedTuple):
    """One method's option for one tip choice."""

    percent: int
    total: str  # formatted
    url: str | None
    qr_code: Any  # Markup of the QR code's <img> (a PNG in a data: URI), or None
    copy: tuple[tuple[str, str], ...]


class PayOption(NamedTuple):
    """One method on the page: its variants, and the texts to copy that are the same for every amount."""

    method: str
    name: str
    variants: list[PayVariant]
    copy: tuple[tuple[str, str], ...]


class PayBlock:
    """Draws the pay options of a site's pages; owned by one renderer, with the QR cache it was handed.

    A QR code depends only on its payload (method details, amount, reference), so
    its image comes from the site's QR cache (qr_cache.QrCodes, owned by the
    command's workspace) when the code was drawn before, and is drawn (and kept
    there) otherwise. Without a cache handed over (a statement), it keeps its own
    in memory (bounded).
    """

    OWN_CODES = 4096

    def __init__(self, methods: Sequence[PayMethod], currency: str, codes: Any = None):
        from markupsafe import Markup, escape

        self.methods = tuple(methods)
        self.currency = currency
        self.codes = codes
        self._own_codes: dict[tuple[str, str], tuple[str, int]] = {}
        self._catalog_words: dict[int, tuple] = {}
        self._markup, self._escape = Markup, escape

    def qr_code(self, method: str, payload: str, alt: str):
        """The QR code of ``payload`` as an ``<img>`` (Markup): its PNG in a ``data:`` URI, with the alt text
        ``alt`` (already escaped)."""
        if self.codes is not None:
            png, side = self.codes.image(qr_bytes(method, payload), lambda: qr_png(method, qr_modules(method, payload)))
        else:
            drawn = self._own_codes.get((method, payload))
            if drawn is None:
                if len(self._own_codes) >= self.OWN_CODES:
                    self._own_codes.clear()
                drawn = self._own_codes[method, payload] = qr_png(method, qr_modules(method, payload))
            png, side = drawn
        return self._markup(
            f'<img class="pay-qr__code" src="data:image/png;base64,{png}" width="{side}" height="{side}" alt="{alt}">'
        )

    def options(self, totals: Sequence[tuple[int, int, str]], payer: Payer, gettext) -> list[PayOption]:
        """Each method's option, with one variant per (tip percent, total minor, total formatted)."""
        names, alts = self._words(gettext)
        make = tuple.__new__  # PayVariant(...) without its Python-level __new__: a build makes millions
        escape = self._escape
        options = []
        currency = self.currency
        # Each tip's amount as the links carry it and as the QR codes' alt text shows it (for every method).
        amounts = [
            (
                *total,
                major_string(total[1], currency),
                str(escape(total[2])) if _TO_ESCAPE.search(total[2]) else total[2],
            )
            for total in totals
        ]
        for method, name, alt in zip(self.methods, names, alts, strict=True):
            variants = []
            m = method.method
            qr_method, amount_texts = m in QR_METHODS, m in AMOUNT_TEXTS
            offer_for = offers(method, currency, payer)
            for percent, total_minor, total_text, amount, total_html in amounts:
                offer = offer_for(total_minor, amount)
                code = None
                if qr_method and offer.qr is not None:
                    code = self.qr_code(m, offer.qr, total_html.join(alt))
                own = tuple(item for item in offer.copy if item[0] in AMOUNT_TEXTS) if amount_texts else ()
                variants.append(make(PayVariant, (percent, total_text, offer.url, code, own)))
            common = tuple(item for item in offer.copy if item[0] not in AMOUNT_TEXTS) if amount_texts else offer.copy
            options.append(PayOption(m, name, variants, common))
        return options

    def _words(self, gettext) -> tuple[list[str], list[list[str]]]:
        """The methods' names in ``gettext``'s language, and each one's QR code title ("QR code to pay
        %(amount)s by …") escaped, cut where the amount goes (kept per catalog)."""
        catalog = getattr(gettext, "__self__", None)  # a catalog's bound gettext; else not kept
        words = self._catalog_words.get(id(catalog)) if catalog is not None else None
        if words is None or words[0] is not catalog:
            names = [method_name(method, gettext) for method in self.methods]
            title = gettext("QR code to pay %(amount)s by %(method)s")
            # Escaping goes character by character, so the escaped title is its escaped parts joined.
            alts = [str(self._escape(title % {"amount": "\0", "method": name})).split("\0") for name in names]
            words = (catalog, names, alts)
            if catalog is not None:
                self._catalog_words[id(catalog)] = words
        return words[1], words[2]


def qr_modules(method: str, payload: str) -> tuple[int, bytes]:
    """The QR code of ``payload``: its size in modules (without quiet zones) and its modules row by row,
    each row in ``(size + 7) // 8`` bytes, the leftmost module in the highest bit, 1 dark (padded with
    light modules). Error correction M as EPC and SIX require, its data the exact bytes of ``qr_bytes``
    (byte mode, no ECI); zxing-cpp encodes it (and picks the mask with the lowest penalty)."""
    import zxingcpp

    code = zxingcpp.create_barcode(qr_bytes(method, payload), zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = code.to_image(scale=1, add_quiet_zones=False)
    size = image.shape[0]
    cells = bytes(memoryview(image))  # type: ignore[arg-type]  # the Image is a buffer (no stub says so)
    if image.shape != (size, size) or len(cells) != size * size:
        raise ValueError("zxing-cpp drew a QR code paylink cannot read back")
    bits = cells.translate(_DARK_AS_ONE).decode("ascii")
    width = (size + 7) // 8
    pad = "0" * (8 * width - size)
    rows = pad.join(bits[y * size : (y + 1) * size] for y in range(size)) + pad
    return size, int(rows, 2).to_bytes(width * size, "big")


_TO_ESCAPE = re.compile("[&<>\"']")  # what autoescape would change (most amounts hold none of it)
_DARK_AS_ONE = bytes(0x31 if value < 128 else 0x30 for value in range(256))

# The Swiss QR-bill's code is drawn this many pixels a module, so its cross (7 mm of 46 mm) and the
# cross's white edge land within a quarter of a module of where the standard puts them; every other code
# is one pixel a module (the page enlarges it without smoothing: pay.css's image-rendering).
SWISS_SCALE = 4
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def qr_png(method: str, modules: tuple[int, bytes]) -> tuple[str, int]:
    """A QR code (``qr_modules``) as a PNG file in base64 (for a ``data:`` URI) and its side in pixels:
    1 bit a pixel, the dark modules black on white, with a quiet zone of 4 modules inside the image (so
    it scans on a dark page too). The Swiss QR-bill's code carries the Swiss cross in its middle."""
    import binascii
    import struct
    import zlib

    size, rows = modules
    scale = SWISS_SCALE if method == "swiss_qr" else 1
    side = (size + 8) * scale  # pixels, quiet zones included
    width = (size + 7) // 8
    pad = 8 * width - size
    white = (1 << side) - 1  # a row of white pixels: in a 1-bit grey PNG, 1 is white
    if scale == 1:
        lines = [
            white ^ ((int.from_bytes(rows[at : at + width], "big") >> pad) << 4) for at in range(0, len(rows), width)
        ]
    else:
        wider = str.maketrans({"0": "0" * scale, "1": "1" * scale})
        lines = []
        for at in range(0, len(rows), width):
            dark = format(int.from_bytes(rows[at : at + width], "big") >> pad, f"0{size}b")
            lines += [white ^ (int(dark.translate(wider), 2) << 4 * scale)] * scale
    lines = [white] * (4 * scale) + lines + [white] * (4 * scale)
    if method == "swiss_qr":
        _swiss_cross(lines, side, size * scale, scale)
    row_bytes = (side + 7) // 8
    fill = 8 * row_bytes - side  # the last byte's unused bits (white)
    end = (1 << fill) - 1
    # Each row behind filter type 0 (none): deflate finds a scaled code's repeated rows by itself.
    raw = b"".join(b"\0" + ((line << fill) | end).to_bytes(row_bytes, "big") for line in lines)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", binascii.crc32(kind + data))

    png = (
        _PNG_SIGNATURE
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))  # grey, 1 bit, not interlaced
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return binascii.b2a_base64(png, newline=False).decode("ascii"), side


def _swiss_cross(lines: list[int], side: int, inner: int, scale: int) -> None:
    """Draw the Swiss cross over the middle of a Swiss QR-bill code's rows of pixels (``inner`` pixels
    across without its quiet zones): a black square of 7 mm on the code's 46 mm, a white cross on it (arms
    0.6 of the square long and 0.2 wide) and a white edge round it (0.3 of a module), each centred."""

    def centred(length: float) -> tuple[int, int]:
        n = round(length)
        if (side - n) % 2:  # as the image's side is even or odd, so it sits exactly in the middle
            n += 1 if n < length else -1
        return (side - n) // 2, (side + n) // 2

    def pixels(span: tuple[int, int]) -> int:  # the bits of these columns in a row
        return ((1 << (span[1] - span[0])) - 1) << (side - span[1])

    square = inner * 7 / 46
    edge, black = centred(square + 2 * 0.3 * scale), centred(square)
    arm, bar = centred(square * 0.6), centred(square * 0.2)
    for y in range(*edge):
        lines[y] |= pixels(edge)
    for y in range(*black):
        lines[y] &= ~pixels(black)
    for y in range(*arm):
        lines[y] |= pixels(bar)
    for y in range(*bar):
        lines[y] |= pixels(arm)
