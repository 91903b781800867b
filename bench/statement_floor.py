"""The statement's floor: a plain script printing a customer's entries with a running balance as JSON.

    python bench/statement_floor.py DB CUSTOMER_ID

It reads the ledger's public tables with sqlite3 (read-only) and prints the
document `paylink statement CUSTOMER --json` prints (CONTRACT §2), money as
decimal strings of a two-decimal currency and dates as the UTC day: the same
work with nothing in between, on the same interpreter.
"""

import json
import sqlite3
import sys


def money(minor: int) -> str:
    return f"{'-' if minor < 0 else ''}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def statement(db: str, customer_id: int) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT id, amount_minor, description, posted_at FROM entries WHERE customer_id = ? ORDER BY posted_at, id",
        (customer_id,),
    )
    balance, entries = 0, []
    for entry_id, amount, description, posted_at in rows:
        balance += amount
        entries.append(
            {
                "id": entry_id,
                "date": posted_at[:10],
                "description": description,
                "amount": money(amount),
                "amount_minor": amount,
                "balance": money(balance),
                "balance_minor": balance,
                "voided": False,
                "voids": None,
            }
        )
    conn.close()
    return {
        "customer_id": customer_id,
        "opening_balance": money(0),
        "opening_balance_minor": 0,
        "closing_balance": money(balance),
        "closing_balance_minor": balance,
        "entries": entries,
    }


if __name__ == "__main__":
    print(json.dumps(statement(sys.argv[1], int(sys.argv[2]))))
