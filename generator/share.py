"""Sharing a customer's link: the ready text message and email, and the ``sms:``/``mailto:`` links that open them.

Pure: a customer, their balance and their URL in, strings out. The words come
from ``messages`` in the customer's language (else the site's).
"""

import re
from dataclasses import dataclass
from urllib.parse import quote

from .messages import money_locale, share_texts
from .model import CustomerBalance
from .money import format_money
from .settings import Settings


@dataclass(frozen=True)
class Share:
    """Everything the owner needs to send a customer their link."""

    customer_id: int
    url: str
    sms: str
    sms_uri: str
    email_subject: str
    email_body: str
    mailto_uri: str

    def as_json(self) -> dict:
        return {
            "customer_id": self.customer_id,
            "url": self.url,
            "sms": self.sms,
            "sms_uri": self.sms_uri,
            "email_subject": self.email_subject,
            "email_body": self.email_body,
            "mailto_uri": self.mailto_uri,
        }


def compose(settings: Settings, balance: CustomerBalance, url: str) -> Share:
    """The messages for sending ``url`` to the customer, naming the business and what is owed (or not)."""
    customer = balance.customer
    language = customer.language or settings.page_language
    amount = format_money(abs(balance.balance_minor), settings.currency, money_locale(settings, language))
    pay_lines: list[str] = []
    if settings.pay and balance.state == "outstanding":
        from .i18n import translations
        from .pay_methods import Payer, share_lines

        payer = Payer(customer.id, customer.ref, customer.email)
        gettext = translations(language).gettext
        pay_lines = share_lines(settings.pay, balance.balance_minor, settings.currency, payer, gettext)
    texts = share_texts(
        language=language, business=settings.name, state=balance.state, amount=amount, url=url, pay_lines=pay_lines
    )
    return Share(
        customer_id=customer.id,
        url=url,
        sms=texts.sms,
        sms_uri=sms_uri(customer.phone, texts.sms),
        email_subject=texts.email_subject,
        email_body=texts.email_body,
        mailto_uri=mailto_uri(customer.email, texts.email_subject, texts.email_body),
    )


def sms_uri(phone: str | None, body: str) -> str:
    """``sms:+15550101?&body=...`` (RFC 5724; the ``?&`` form works on both iOS and Android)."""
    number = re.sub(r"[^0-9+]", "", phone or "")
    return f"sms:{number}?&body={quote(body, safe='')}"


def mailto_uri(email: str | None, subject: str, body: str) -> str:
    """``mailto:EMAIL?subject=...&body=...`` (RFC 6068: line breaks as CRLF, everything percent-encoded)."""
    body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    address = quote(email or "", safe="@")
    return f"mailto:{address}?subject={quote(subject, safe='')}&body={quote(body, safe='')}"
