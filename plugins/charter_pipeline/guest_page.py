"""The guest page: session ids, and rendering the page (and its cancelled variant) a guest opens from their link.

Pure functions on plain data: Jinja2 in, HTML out. The page is the only part of the system a customer ever sees,
so what reaches the template is an allow-list built here (CONTRACT.md section 7): never the Booking itself, so no
money, renter e-mail or phone, last name, booking id or crew can slip onto the page by a template edit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.config import PipelineConfig

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SESSION_ID_LENGTH = 13  # 13 x 5 bits = 65 bits (CONTRACT.md section 7)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "include" / "templates"
GUEST_PAGE_TEMPLATE = "guest_page.html.j2"
CANCELLED_PAGE_TEMPLATE = "guest_page_cancelled.html.j2"
RETIRED_PAGE_TEMPLATE = "guest_page_retired.html.j2"

_SESSION_ID = re.compile(f"[{CROCKFORD_ALPHABET}]{{{SESSION_ID_LENGTH}}}")
# What the CloudFront rewrite serves (include/cloudfront/guest-rewrite.js): older pages used 7-letter ids.
_PAGE_ID = re.compile(r"[A-Za-z0-9]{7,26}")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_EXTENSION = re.compile(r"(?i)\s*(?:extension|ext\.?|x|#)\s*")
_MAPS_SEARCH = "https://www.google.com/maps/search/?api=1&query="

_ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(enabled_extensions=("html", "htm", "j2"), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def new_session_id() -> str:
    """A fresh session id: 13 upper-case Crockford base32 characters holding 65 bits from ``secrets``."""
    value = secrets.randbits(5 * SESSION_ID_LENGTH)
    chars = []
    for _ in range(SESSION_ID_LENGTH):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD_ALPHABET[digit])
    return "".join(reversed(chars))


def is_session_id(text: object) -> bool:
    """True for exactly 13 upper-case Crockford base32 characters (no I, L, O or U)."""
    return isinstance(text, str) and _SESSION_ID.fullmatch(text) is not None


def session_id_from_url(url: object, base_url: str) -> str | None:
    """The session id a guest page address names, or None when ``url`` is not a guest page under ``base_url``.

    Used to recover a booking's id from its calendar entry's ``guest_url`` when the ledger is lost, so the guest's
    link keeps working. Any id the CloudFront rewrite serves is recovered (7 to 26 letters and digits, upper-cased):
    a booking first published with an older, shorter id keeps that address too.
    """
    if not isinstance(url, str) or not url.strip():
        return None
    page, base = urlsplit(url.strip()), urlsplit(base_url.strip())
    if (page.scheme.lower(), page.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        return None
    prefix = base.path if base.path.endswith("/") else base.path + "/"
    if not page.path.startswith(prefix):
        return None
    candidate = page.path[len(prefix) :].removesuffix("/")
    return candidate.upper() if _PAGE_ID.fullmatch(candidate) else None


def page_hash(html: str) -> str:
    """sha256 hex of the page's UTF-8 bytes: the pipeline re-uploads and re-invalidates only when it changes."""
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def render_guest_page(booking: Booking, config: PipelineConfig, session_id: str) -> str:
    """The guest page for a charter: when and where to be, what to bring, safety and who to call."""
    return _ENVIRONMENT.get_template(GUEST_PAGE_TEMPLATE).render(guest_page_context(booking, config, session_id))


def render_cancelled_page(booking: Booking, config: PipelineConfig, session_id: str) -> str:
    """The short, kind notice that replaces a cancelled charter's page at the same address."""
    context = guest_page_context(booking, config, session_id)
    return _ENVIRONMENT.get_template(CANCELLED_PAGE_TEMPLATE).render(context)


def render_retired_page(config: PipelineConfig) -> str:
    """The neutral notice that replaces a page some days after its charter (CONTRACT.md section 11): the
    operator's contact only, the same for every booking, so nothing in it tells whose page it was."""
    contact = config.emergency_contact
    return _ENVIRONMENT.get_template(RETIRED_PAGE_TEMPLATE).render(
        contact_name=contact.name or "us", contact_phone=contact.phone, contact_tel=tel_uri(contact.phone)
    )


def guest_page_context(booking: Booking, config: PipelineConfig, session_id: str) -> dict[str, Any]:
    """Everything a guest page template may show, and nothing else."""
    if not _PAGE_ID.fullmatch(session_id):
        raise ValueError("session_id: must be 7 to 26 letters and digits")
    tz = config.tz
    start = booking.start.astimezone(tz)
    end = booking.end.astimezone(tz)
    # Subtract in UTC so a check-in that falls across a DST change is still the lead time before departure.
    utc_start = booking.start.astimezone(ZoneInfo("UTC"))
    checkin = (utc_start - timedelta(minutes=config.checkin_lead_minutes)).astimezone(tz)
    zones_differ = start.tzname() != end.tzname() or checkin.tzname() != start.tzname()
    contact = config.emergency_contact
    lead = Decimal(config.checkin_lead_minutes) / 60
    return {
        "first_name": booking.first_name,
        "boat": booking.boat,
        "date": long_date(start),
        "checkin_time": clock_time(checkin, with_zone=zones_differ),
        "checkin_day_note": _day_note(checkin, start),
        "checkin_lead": _duration_text(lead) if lead else "",
        "departure_time": clock_time(start, with_zone=zones_differ),
        "return_time": clock_time(end, with_zone=zones_differ),
        "return_day_note": _day_note(end, start),
        "duration": _duration_text(booking.duration_hours),
        "party_size": booking.passengers,
        "party_text": f"{booking.passengers} guest" if booking.passengers == 1 else f"{booking.passengers} guests",
        "meeting_point": config.meeting_point,
        "map_url": _MAPS_SEARCH + quote_plus(config.meeting_point),
        "contact_name": contact.name or "Charter operations",
        "contact_phone": contact.phone,
        "contact_tel": tel_uri(contact.phone),
        "page_url": config.guest_url(session_id),
    }


def long_date(moment: datetime) -> str:
    """``Friday, December 4, 2026``, the same whatever the machine's locale."""
    return f"{_WEEKDAYS[moment.weekday()]}, {_MONTHS[moment.month - 1]} {moment.day}, {moment.year}"


def clock_time(moment: datetime, *, with_zone: bool = False) -> str:
    """``10:00 AM`` (12-hour clock, locale-independent); ``1:30 AM PDT`` when the zone must be said."""
    hour = moment.hour % 12 or 12
    text = f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    return f"{text} {moment.tzname()}" if with_zone else text


def tel_uri(phone: str) -> str:
    """A ``tel:`` link target for a phone number as the operator wrote it (``+1 619 555 0100``).

    An extension (``ext. 4``, ``x4``) follows a pause (``,``), which phone dialers send as tones once connected.
    """
    number, extension = phone, ""
    if match := _EXTENSION.search(phone):
        number, extension = phone[: match.start()], phone[match.end() :]
    plus = "+" if number.strip().startswith("+") else ""
    pause = "," + re.sub(r"[^0-9]", "", extension) if re.search(r"[0-9]", extension) else ""
    return f"tel:{plus}{re.sub(r'[^0-9]', '', number)}{pause}"


def _day_note(moment: datetime, departure: datetime) -> str:
    days = (moment.date() - departure.date()).days
    if days == 0:
        return ""
    if days == 1:
        return f"the next day, {_WEEKDAYS[moment.weekday()]}"
    if days == -1:
        return f"the day before, {_WEEKDAYS[moment.weekday()]}"
    return long_date(moment)


def _duration_text(hours: Decimal) -> str:
    # Whole hours and minutes only: a decimal like "2.25" on a guest page reads like a price.
    minutes = int((hours * 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    whole, rest = divmod(minutes, 60)
    parts = []
    if whole:
        parts.append(f"{whole} hour" if whole == 1 else f"{whole} hours")
    if rest or not whole:
        parts.append(f"{rest} minute" if rest == 1 else f"{rest} minutes")
    return " ".join(parts)
