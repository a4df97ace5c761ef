"""What speaks of money: the one detector behind every place money must not reach.

Crew must never see what a charter earns or what anyone is paid (CONTRACT.md section 6), and alerts never carry
money (CONTRACT.md section 11). These rules decide which attribute names and which lines of text speak of money,
and serve the guard before anything is sent to SCC (``money_findings``), the scrub of what SCC writes into its
events table (``is_money_attribute``, ``scrub_notes``), and the guard on alert texts (``holds_amount``).
Pure: text in, answers out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any


def _word_set(*families: str) -> frozenset[str]:
    return frozenset(word for family in families for word in family.split())


# Words that speak of money wherever they appear (CONTRACT.md section 6: revenue, fees, pay, rates, payout, cost,
# margin), with their kin.
_MONEY_WORDS = _word_set(
    "revenue revenues income earnings profit profits profitable margin margins",
    "fee fees surcharge surcharges fare fares",
    "pay pays paid paying payment payments payout payouts payroll paycheck paychecks payable payee payer",
    "unpaid prepaid overpaid underpaid wage wages salary salaries commission commissions gratuity gratuities",
    "compensation bonus bonuses stipend stipends",
    "price prices priced pricing cost costs costing rate rates expense expenses reimbursement budget budgets",
    "refund refunds refunded invoice invoices invoiced billing billed",
    "usd dollar dollars money monetary financial financials finance finances",
)
# Words that are money in an attribute name ("net", "tips", "charges") but ordinary in crew notes ("Tip: bring
# sunscreen", "in charge"): in a line they count only next to a number ("Net 289.41", "40 cash").
_MONEY_WORDS_BY_NUMBER = _word_set(
    "net gross amount amounts amt balance cash cents bill bills",
    "tip tips tipped tipping charge charges charged deposit deposits tax taxes discount discounts",
)
# Parts that may be glued to a money word in one lowercase token ("crewpay", "captainfee", "hourlyrate").
_COMPOUND_PARTS = _word_set(
    "crew captain deck hand deckhand boat charter trip port fuel cleaning late service booking guest owner operator",
    "hourly daily per hour day base total extra estimated expected actual max min unit sub",
)
_COMPOUND_VOCABULARY = _MONEY_WORDS | _MONEY_WORDS_BY_NUMBER | _COMPOUND_PARTS
# Parts are tried only up to the longest known word, so a long token (a pasted link, a hash) stays linear.
_LONGEST_PART = max(map(len, _COMPOUND_VOCABULARY))
# Word pairs in which the money word means something else.
_NOT_MONEY_PAIRS = frozenset(
    {
        ("in", "charge"),
        ("heart", "rate"),
        ("safety", "margin"),
        ("pay", "attention"),
        ("paid", "attention"),
        ("paying", "attention"),
        ("net", "weight"),
        ("gross", "weight"),
        ("net", "tonnage"),
        ("gross", "tonnage"),
    }
)

# An amount: a currency sign or code next to a number ("$25", "€30", "25$", "USD 25", "25 bucks").
_CURRENCY_AMOUNT = re.compile(
    r"[$€£¥]\s?[-+]?\.?\d|\d\s?[$€£¥¢]|\b(?:usd|eur|gbp)\s?[-+]?\d|\d\s?(?:k\s)?(?:usd|eur|euros?|gbp|bucks|cents?)\b",
    re.IGNORECASE,
)
# A bare figure written as money: thousands separators or exactly two decimals ("1,234", "150.00"), unless a
# unit follows ("12.50 ft", "10.30 am").
_BARE_AMOUNT = re.compile(r"(?<![\w.,:])(?:\d{1,3}(?:,\d{3})+(?:\.\d{2})?|\d+\.\d{2})(?!\w|[.,:]\d)")
_UNIT_AFTER = re.compile(
    r"\s*(?:%|°|(?:am|pm|a\.m|p\.m|h|hrs?|hours?|mins?|minutes?|ft|feet|foot|m|meters?|metres?|km|kts?|knots?|"
    r"nm|nmi|mi|miles?|mph|gal|gallons?|l|liters?|litres?|kg|lbs?)\b)",
    re.IGNORECASE,
)


def _split_case(chunk: str) -> list[str]:
    """Split camelCase, acronyms and digits: "crewPayUSD2" -> crew, Pay, USD, 2 (Unicode-aware)."""
    parts: list[str] = []
    begin = 0
    for i in range(1, len(chunk)):
        before, here = chunk[i - 1], chunk[i]
        after = chunk[i + 1] if i + 1 < len(chunk) else ""
        if (
            before.isdigit() != here.isdigit()
            or (before.islower() and here.isupper())
            or (before.isupper() and here.isupper() and after.islower())
        ):
            parts.append(chunk[begin:i])
            begin = i
    parts.append(chunk[begin:])
    return parts


def _words(text: str) -> list[str]:
    """The words of a name or a line: snake_case, kebab-case, camelCase and prose alike, case-folded."""
    return [part.casefold() for chunk in re.findall(r"[^\W_]+", text) for part in _split_case(chunk)]


def _compound_of(token: str, money: frozenset[str]) -> bool:
    """Whether ``token`` is glued from known parts, one of them in ``money`` ("crewpay"; not "netid", "rated")."""
    # reach[i] holds whether token[:i] splits into known parts, and whether one of them was money.
    reach: list[set[bool]] = [set() for _ in range(len(token) + 1)]
    reach[0].add(False)
    for begin in range(len(token)):
        for had_money in tuple(reach[begin]):
            for end in range(begin + 2, min(begin + _LONGEST_PART, len(token)) + 1):
                part = token[begin:end]
                if part in _COMPOUND_VOCABULARY:
                    reach[end].add(had_money or part in money)
    return True in reach[len(token)]


def _money_word_at(words: list[str], i: int, money: frozenset[str]) -> bool:
    word = words[i]
    if word not in money and (word.isdigit() or not _compound_of(word, money)):
        return False
    before = words[i - 1] if i > 0 else ""
    after = words[i + 1] if i + 1 < len(words) else ""
    return (before, word) not in _NOT_MONEY_PAIRS and (word, after) not in _NOT_MONEY_PAIRS


def is_money_attribute(name: str) -> bool:
    """Whether an attribute name speaks of money: ``captain_fee``, ``crewPay``, ``hourly_rate``, ``net_revenue``.

    Word-based, so ``created_at``, ``rated``, ``separate``, ``netid`` and ``notes`` are not money.
    """
    words = _words(name)
    money = _MONEY_WORDS | _MONEY_WORDS_BY_NUMBER
    return any(_money_word_at(words, i, money) for i in range(len(words)))


def _holds_amount(line: str) -> bool:
    if _CURRENCY_AMOUNT.search(line):
        return True
    return any(not _UNIT_AFTER.match(line, found.end()) for found in _BARE_AMOUNT.finditer(line))


def holds_amount(line: str) -> bool:
    """Whether a line holds an amount ("$25", "25.00 USD", a bare "150.00"), whatever its words say."""
    return _holds_amount(line)


def _speaks_of_money(line: str) -> bool:
    words = _words(line)
    for i in range(len(words)):
        if _money_word_at(words, i, _MONEY_WORDS):
            return True
        if words[i] in _MONEY_WORDS_BY_NUMBER and _money_word_at(words, i, _MONEY_WORDS_BY_NUMBER):
            neighbours = words[max(i - 1, 0) : i] + words[i + 1 : i + 2]
            if any(word.isdigit() for word in neighbours):
                return True
    return False


def is_money_line(line: str) -> bool:
    """Whether a line of text holds an amount or speaks of money (CONTRACT.md section 6).

    Amounts: "$25", "$1,234.50", "25.00 USD", "USD 25", "25 dollars", "€30", or a bare "150.00". Words: revenue,
    fees, pay, rates, payout, cost, margin and their kin, case-insensitive. "10:30" and "6 guests" are not money.
    """
    return _holds_amount(line) or _speaks_of_money(line)


def scrub_notes(text: str) -> str:
    """``text`` without its money lines; every other line stays exactly as it was, line ending included."""
    return "".join(line for line in text.splitlines(keepends=True) if not is_money_line(line))


def proper_names(payload: Any) -> list[str]:
    """The boat, guest and crew names (and crew e-mails) an SCC payload carries: names, not talk of money."""
    if not isinstance(payload, Mapping):
        return []
    guest = payload.get("guest")
    crew = payload.get("crew")
    found = [payload.get("boat"), guest.get("name") if isinstance(guest, Mapping) else None]
    for member in crew if isinstance(crew, list) else []:
        if isinstance(member, Mapping):
            found += [member.get("name"), member.get("email")]
    return [name for name in found if isinstance(name, str) and name.strip()]


def money_findings(value: Any, *, names: Iterable[str] = ()) -> list[str]:
    """Every place in a nested payload (dicts, lists, strings) that speaks of money; empty when it is clean.

    Keys are judged by ``is_money_attribute`` and strings line by line by ``is_money_line``. Each finding names
    its place, e.g. ``crew[0].pay`` or ``notes line 2``. Proper names are not talk of money: a boat called "Pay Day"
    or a deckhand called "Sam Price" is no finding, though an amount inside a name still is. The names are the
    payload's own (``proper_names``) plus ``names``, for a partial update that does not carry them.
    """
    every_name = {" ".join(name.split()) for name in [*proper_names(value), *names]} - {""}
    pattern = "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in sorted(every_name, key=len, reverse=True))
    masked = re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE) if pattern else None
    return _findings(value, "", masked)


def _findings(value: Any, path: str, names: re.Pattern[str] | None) -> list[str]:
    findings: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            place = f"{path}.{key}" if path else str(key)
            if is_money_attribute(str(key)):
                findings.append(f"{place}: attribute speaks of money")
            else:
                findings.extend(_findings(item, place, names))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            findings.extend(_findings(item, f"{path}[{i}]", names))
    elif isinstance(value, str):
        lines = value.splitlines()
        for number, line in enumerate(lines, 1):
            words = names.sub(" ", line) if names else line
            if _holds_amount(line) or _speaks_of_money(words):
                place = f"{path or 'text'} line {number}" if len(lines) > 1 else (path or "text")
                findings.append(f"{place}: {line.strip()!r}")
    return findings
