"""Session ids and the guest page (CONTRACT.md section 7), over the guests a charter business really gets."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from charter_pipeline import guest_page
from charter_pipeline.booking import Booking
from charter_pipeline.config import PipelineConfig, load_config
from charter_pipeline.guest_page import (
    CROCKFORD_ALPHABET,
    TEMPLATES_DIR,
    guest_page_context,
    is_session_id,
    new_session_id,
    page_hash,
    render_cancelled_page,
    render_guest_page,
    session_id_from_url,
)

LA = ZoneInfo("America/Los_Angeles")
SESSION_ID = "7K3QX9MZ2ABCD"
CAPTAIN = "Morgan Teague"
DECKHANDS = ("Riley Ostrander", "Sam Okonkwo-Lind")
RENTER_EMAIL = "zoe.obrien@example.com"
RENTER_PHONE = "+1 (858) 555-0199"
BOOKING_ID = "BS-88421377"
MONEY = re.compile(r"\$|€|£|\bUSD\b|\b\d+[.,]\d{2}\b|\b(gross|net|revenue|price|cost|fee|fees|pay|payout|rate)\b", re.I)


class _PageText(HTMLParser):
    """What a reader sees (and what a screen reader or print shows): text outside <style>, plus every link."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style:
            self.text.append(data)


def parse(html: str) -> _PageText:
    parser = _PageText()
    parser.feed(html)
    parser.close()
    return parser


def visible_text(html: str) -> str:
    return " ".join(" ".join(parse(html).text).split())


def config(**overrides: object) -> PipelineConfig:
    settings_: dict[str, object] = {
        "crew_roster": {
            "default": {
                "captain": {"name": CAPTAIN, "email": "morgan@example.com"},
                "crew": [{"name": name, "email": "crew@example.com"} for name in DECKHANDS],
            }
        }
    }
    settings_.update(overrides)
    return load_config(settings_)


def booking(
    name: str = "Zoë O'Brien",
    start: datetime = datetime(2026, 12, 4, 10, 0, tzinfo=LA),
    hours: str = "3",
    passengers: int = 6,
    **fields: object,
) -> Booking:
    values: dict[str, object] = {
        "booking_id": BOOKING_ID,
        "status": "approved",
        "boat": "Queen of San Diego",
        "renter_name": name,
        "trip_date": start.date(),
        "start": start,
        "duration_hours": Decimal(hours),
        "passengers": passengers,
        "gross": Decimal("1234.50"),
        "captain": "",
        "renter_email": RENTER_EMAIL,
        "renter_phone": RENTER_PHONE,
    }
    values.update(fields)
    return Booking(**values)  # type: ignore[arg-type]


def assert_nothing_private(html: str, guest: Booking, *, last_name: str | None = None) -> None:
    text = visible_text(html)
    assert MONEY.search(text) is None, MONEY.search(text)
    for private in (guest.booking_id, guest.renter_email, "1234.50", "1,234.50", "1234.5", CAPTAIN, *DECKHANDS):
        assert private not in html
    assert "858" not in text, "the renter's phone is on the page"
    assert "0199" not in text, "the renter's phone is on the page"
    if guest.captain:
        assert guest.captain not in html
    if last_name:
        assert last_name not in html


# Session ids ----------------------------------------------------------------------------------------------------


def test_new_session_id_is_13_upper_case_crockford_characters() -> None:
    ids = {new_session_id() for _ in range(2000)}

    assert len(ids) == 2000
    for session_id in ids:
        assert len(session_id) == 13
        assert set(session_id) <= set(CROCKFORD_ALPHABET)
        assert is_session_id(session_id)
    # 65 random bits fill all 13 places: every symbol turns up in the first and the last place.
    assert {session_id[0] for session_id in ids} == set(CROCKFORD_ALPHABET)
    assert {session_id[-1] for session_id in ids} == set(CROCKFORD_ALPHABET)


@pytest.mark.parametrize(
    ("bits", "expected"),
    [(0, "0000000000000"), (2**65 - 1, "ZZZZZZZZZZZZZ"), (31, "000000000000Z"), (2**60 * 10, "A000000000000")],
)
def test_new_session_id_encodes_65_bits_from_secrets(monkeypatch: pytest.MonkeyPatch, bits: int, expected: str) -> None:
    asked: list[int] = []

    def randbits(k: int) -> int:
        asked.append(k)
        return bits

    monkeypatch.setattr(guest_page.secrets, "randbits", randbits)

    assert new_session_id() == expected
    assert asked == [65]


@pytest.mark.parametrize(
    "text",
    ["7k3qx9mz2abcd", "7K3QX9MZ2ABC", "7K3QX9MZ2ABCDE", "7K3QX9MZ2ABCI", "7K3QX9MZ2ABCL", "7K3QX9MZ2ABCO",
     "7K3QX9MZ2ABCU", "7K3QX9MZ2ABC-", " 7K3QX9MZ2ABC", "", None, 1234567890123],
)  # fmt: skip
def test_is_session_id_refuses_anything_else(text: object) -> None:
    assert not is_session_id(text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://queenofsandiego.com/g/7K3QX9MZ2ABCD", "7K3QX9MZ2ABCD"),
        ("https://queenofsandiego.com/g/7K3QX9MZ2ABCD/", "7K3QX9MZ2ABCD"),
        ("https://QueenOfSanDiego.com/g/7k3qx9mz2abcd", "7K3QX9MZ2ABCD"),
        ("https://queenofsandiego.com/g/7K3QX9MZ2ABCD?utm_source=sms#when", "7K3QX9MZ2ABCD"),
        ("  https://queenofsandiego.com/g/7K3QX9MZ2ABCD  ", "7K3QX9MZ2ABCD"),
        ("https://queenofsandiego.com/g/ABC1234", "ABC1234"),  # an older 7-letter page keeps its address
        ("https://queenofsandiego.com/g/ABC123", None),
        ("https://queenofsandiego.com/g/" + "A" * 27, None),
        ("https://queenofsandiego.com/g/7K3QX9MZ2ABCD/extra", None),
        ("https://queenofsandiego.com/g/", None),
        ("https://queenofsandiego.com/h/7K3QX9MZ2ABCD", None),
        ("https://elsewhere.example/g/7K3QX9MZ2ABCD", None),
        ("http://queenofsandiego.com/g/7K3QX9MZ2ABCD", None),
        ("https://queenofsandiego.com/jada-guest-7K3QX9MZ2ABCD.html", None),
        ("", None),
        (None, None),
    ],
)
def test_session_id_from_url(url: object, expected: str | None) -> None:
    assert session_id_from_url(url, "https://queenofsandiego.com/g/") == expected


def test_session_id_survives_the_round_trip_through_guest_url() -> None:
    for base in ("https://queenofsandiego.com/g/", "https://charters.example/guests/g/"):
        cfg = config(guest_base_url=base)
        session_id = new_session_id()

        assert session_id_from_url(cfg.guest_url(session_id), cfg.guest_base_url) == session_id


# The guest page -------------------------------------------------------------------------------------------------


def test_templates_are_found_relative_to_the_repo() -> None:
    repo = guest_page.Path(guest_page.__file__).resolve().parents[2]
    assert repo / "include" / "templates" == TEMPLATES_DIR
    assert (TEMPLATES_DIR / "guest_page.html.j2").is_file()
    assert (TEMPLATES_DIR / "guest_page_cancelled.html.j2").is_file()


def test_page_shows_what_a_guest_needs() -> None:
    html = render_guest_page(booking(), config(), SESSION_ID)
    text = visible_text(html)

    for wanted in (
        "See you on the water, Zoë!",
        "Aboard Queen of San Diego on Friday, December 4, 2026",
        "Friday, December 4, 2026",
        "Please check in at 9:30 AM",
        "30 minutes before departure",
        "Departure 10:00 AM",
        "Return 1:00 PM",
        "3 hours on the water",
        "6 guests",
        "Sheraton Marina, Harbor Island, San Diego",
        "What to bring",
        "Safety briefing",
        "life jacket",
        "JADA Charters operations",
        "Call +1 619 555 0100",
        "https://queenofsandiego.com/g/" + SESSION_ID,
    ):
        assert wanted in text, wanted
    links = [attrs.get("href") for tag, attrs in parse(html).tags if tag == "a"]
    assert "tel:+16195550100" in links
    assert "https://www.google.com/maps/search/?api=1&query=Sheraton+Marina%2C+Harbor+Island%2C+San+Diego" in links
    assert "the next day" not in text


def test_page_head_keeps_robots_out_and_renders_everywhere() -> None:
    html = render_guest_page(booking(), config(), SESSION_ID)
    tags = parse(html).tags

    assert html.startswith("<!doctype html>")
    assert ("html", {"lang": "en"}) in tags
    assert ("meta", {"charset": "utf-8"}) in tags
    assert ("meta", {"name": "robots", "content": "noindex, nofollow"}) in tags
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in tags
    assert [tag for tag, _ in tags if tag == "h1"] == ["h1"]
    assert len([tag for tag, _ in tags if tag == "h2"]) >= 5
    assert "@media print" in html


@pytest.mark.parametrize("render", [render_guest_page, render_cancelled_page])
def test_page_loads_nothing_and_runs_nothing(render: object) -> None:
    html = render(booking(), config(), SESSION_ID)  # type: ignore[operator]
    tags = parse(html).tags

    assert not {"script", "img", "iframe", "object", "embed", "video", "audio", "source", "form"} & {t for t, _ in tags}
    for tag, attrs in tags:
        assert "src" not in attrs, tag
        assert "srcset" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), tag
        if tag == "link":
            assert attrs.get("href", "").startswith("data:"), attrs  # type: ignore[union-attr]
        if tag == "a":
            href = attrs.get("href") or ""
            assert href.startswith(("tel:", "https://www.google.com/maps/search/?api=1&query=")), href
    style = html[html.index("<style>") : html.index("</style>")]
    for fetching in ("url(", "@import", "@font-face"):
        assert fetching not in style


def test_the_same_booking_renders_the_same_bytes() -> None:
    first = render_guest_page(booking(), config(), SESSION_ID)
    again = render_guest_page(booking(), config(), SESSION_ID)

    assert first == again
    assert page_hash(first) == page_hash(again)
    assert page_hash(first) != page_hash(render_guest_page(booking(passengers=5), config(), SESSION_ID))


def test_page_hash_is_sha256_of_utf8() -> None:
    assert page_hash("Zoë") == hashlib.sha256("Zoë".encode()).hexdigest()
    assert len(page_hash("")) == 64


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Zoë O'Brien", "Zoë", "O'Brien"),
        ("José Álvarez-Núñez", "José", "Álvarez-Núñez"),
        ("Siobhán O'Sullivan", "Siobhán", "O'Sullivan"),
        ("D'Angelo Pettersson", "D'Angelo", "Pettersson"),
        ("Mary Ann Vanderbilt", "Mary", "Vanderbilt"),
        ("Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaftschaferswessenschafe Brown",
         "Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaftschaferswessenschafe", "Brown"),
        ("Cher", "Cher", None),
        ("李 小龍", "李", "小龍"),
    ],
)  # fmt: skip
def test_unusual_names_show_the_first_name_only(name: str, first: str, last: str | None) -> None:
    guest = booking(name=name)
    for html in (render_guest_page(guest, config(), SESSION_ID), render_cancelled_page(guest, config(), SESSION_ID)):
        text = visible_text(html)

        assert first in text
        assert_nothing_private(html, guest, last_name=last)


def test_markup_in_a_name_or_boat_is_shown_as_text() -> None:
    guest = booking(name='<script>alert(1)</script> "Evil" Hacker', boat='<img src=x onerror="alert(2)">')
    for html in (render_guest_page(guest, config(), SESSION_ID), render_cancelled_page(guest, config(), SESSION_ID)):
        assert "<script" not in html
        assert "<img" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert(1)</script>" in visible_text(html)
        assert '<img src=x onerror="alert(2)">' in visible_text(html)
        assert "Hacker" not in html


def test_markup_in_the_meeting_point_stays_text_and_stays_in_the_map_link() -> None:
    cfg = config(meeting_point='Dock "B" <b>&</b> Gate 3')
    html = render_guest_page(booking(), cfg, SESSION_ID)

    assert "<b>" not in html
    assert 'Dock "B" <b>&</b> Gate 3' in visible_text(html)
    maps = next(a["href"] for t, a in parse(html).tags if t == "a" and (a.get("href") or "").startswith("https:"))
    assert maps == "https://www.google.com/maps/search/?api=1&query=Dock+%22B%22+%3Cb%3E%26%3C%2Fb%3E+Gate+3"


def test_a_party_of_one() -> None:
    text = visible_text(render_guest_page(booking(passengers=1), config(), SESSION_ID))

    assert "1 guest" in text
    assert "1 guests" not in text


def test_a_charter_past_midnight_says_it_returns_the_next_day() -> None:
    guest = booking(start=datetime(2026, 7, 3, 22, 30, tzinfo=LA), hours="2.5")
    text = visible_text(render_guest_page(guest, config(), SESSION_ID))

    assert "Friday, July 3, 2026" in text
    assert "Please check in at 10:00 PM" in text
    assert "Departure 10:30 PM" in text
    assert "Return 1:00 AM the next day, Saturday" in text
    assert "2 hours 30 minutes on the water" in text
    assert "2.5" not in text


def test_a_check_in_before_midnight_says_so() -> None:
    guest = booking(start=datetime(2026, 7, 4, 0, 15, tzinfo=LA), hours="1.25")
    text = visible_text(render_guest_page(guest, config(), SESSION_ID))

    assert "Saturday, July 4, 2026" in text
    assert "Please check in at 11:45 PM the day before, Friday" in text
    assert "Departure 12:15 AM" in text
    assert "Return 1:30 AM" in text
    assert "1 hour 15 minutes on the water" in text


def test_daylight_saving_starts_on_a_normal_daytime_charter() -> None:
    text = visible_text(render_guest_page(booking(start=datetime(2026, 3, 8, 10, 0, tzinfo=LA)), config(), SESSION_ID))

    assert "Sunday, March 8, 2026" in text
    assert "Please check in at 9:30 AM" in text
    assert "Departure 10:00 AM" in text
    assert "Return 1:00 PM" in text
    assert "PST" not in text
    assert "PDT" not in text


def test_daylight_saving_starts_during_the_charter() -> None:
    # 1:00 AM PST + 2 elapsed hours is 4:00 AM PDT on 2026-03-08: the clocks skip 2:00 to 3:00.
    text = visible_text(
        render_guest_page(booking(start=datetime(2026, 3, 8, 1, 0, tzinfo=LA), hours="2"), config(), SESSION_ID)
    )

    assert "Please check in at 12:30 AM PST" in text
    assert "Departure 1:00 AM PST" in text
    assert "Return 4:00 AM PDT" in text


def test_daylight_saving_ends_on_a_normal_daytime_charter() -> None:
    text = visible_text(render_guest_page(booking(start=datetime(2026, 11, 1, 10, 0, tzinfo=LA)), config(), SESSION_ID))

    assert "Sunday, November 1, 2026" in text
    assert "Please check in at 9:30 AM" in text
    assert "Departure 10:00 AM" in text
    assert "Return 1:00 PM" in text


def test_daylight_saving_ends_during_the_charter() -> None:
    # 12:30 AM PDT + 3 elapsed hours is 2:30 AM PST on 2026-11-01: the clocks repeat 1:00 to 2:00.
    guest = booking(start=datetime(2026, 11, 1, 0, 30, tzinfo=LA), hours="3")
    text = visible_text(render_guest_page(guest, config(), SESSION_ID))

    assert "Please check in at 12:00 AM PDT" in text
    assert "Departure 12:30 AM PDT" in text
    assert "Return 2:30 AM PST" in text


def test_times_are_shown_in_the_configured_zone() -> None:
    # A booking parsed elsewhere (UTC) still reads in the operator's zone on the page.
    guest = booking(start=datetime(2026, 12, 4, 18, 0, tzinfo=ZoneInfo("UTC")))
    text = visible_text(render_guest_page(guest, config(), SESSION_ID))

    assert "Friday, December 4, 2026" in text
    assert "Departure 10:00 AM" in text


def test_check_in_follows_the_configured_lead() -> None:
    text = visible_text(render_guest_page(booking(), config(checkin_lead_minutes=45), SESSION_ID))
    assert "Please check in at 9:15 AM" in text
    assert "45 minutes before departure" in text

    text = visible_text(render_guest_page(booking(), config(checkin_lead_minutes=0), SESSION_ID))
    assert "Please check in at 10:00 AM" in text
    assert "minutes before departure" not in text


def test_nothing_private_reaches_the_page_even_with_a_booked_captain() -> None:
    guest = booking(captain="Captain Quint Brody")
    for html in (render_guest_page(guest, config(), SESSION_ID), render_cancelled_page(guest, config(), SESSION_ID)):
        assert_nothing_private(html, guest, last_name="O'Brien")
        assert "Quint" not in html


def test_the_template_gets_an_allow_list_never_the_booking() -> None:
    context = guest_page_context(booking(captain="Captain Quint Brody"), config(), SESSION_ID)

    assert set(context) == {
        "first_name", "boat", "date", "checkin_time", "checkin_day_note", "checkin_lead", "departure_time",
        "return_time", "return_day_note", "duration", "party_size", "party_text", "meeting_point", "map_url",
        "contact_name", "contact_phone", "contact_tel", "page_url",
    }  # fmt: skip
    assert all(isinstance(value, str | int) for value in context.values())
    flat = " ".join(map(str, context.values()))
    for private in (BOOKING_ID, RENTER_EMAIL, RENTER_PHONE, "1234", "O'Brien", "Quint", CAPTAIN, *DECKHANDS):
        assert private not in flat


def test_cancelled_page_is_short_kind_and_has_no_times() -> None:
    html = render_cancelled_page(booking(status="cancelled"), config(), SESSION_ID)
    text = visible_text(html)

    assert "We're sorry, Zoë." in text
    assert "has been cancelled" in text
    assert "Friday, December 4, 2026" in text
    assert "Call +1 619 555 0100" in text
    assert not re.search(r"\d:\d\d", text)
    assert "What to bring" not in text
    assert ("meta", {"name": "robots", "content": "noindex, nofollow"}) in parse(html).tags
    assert len(text) < len(visible_text(render_guest_page(booking(), config(), SESSION_ID))) / 2


@pytest.mark.parametrize(
    ("phone", "tel"),
    [
        ("+1 619 555 0100", "tel:+16195550100"),
        ("(619) 555-0123", "tel:6195550123"),
        ("+1 (619) 555-0123 ext. 4", "tel:+16195550123,4"),
        ("619.555.0123 x12", "tel:6195550123,12"),
        ("+44 20 7946 0958 extension 7", "tel:+442079460958,7"),
    ],
)
def test_emergency_phone_becomes_a_tel_link(phone: str, tel: str) -> None:
    cfg = config(emergency_contact={"name": "Harbor desk", "phone": phone})
    html = render_guest_page(booking(), cfg, SESSION_ID)

    assert [a["href"] for t, a in parse(html).tags if t == "a" and (a.get("href") or "").startswith("tel:")] == [tel]
    assert f"Call {phone}" in visible_text(html)
    assert "Call Harbor desk." in visible_text(html)


def test_a_malformed_session_id_is_refused() -> None:
    with pytest.raises(ValueError, match="session_id"):
        render_guest_page(booking(), config(), "../../etc")


@settings(max_examples=60, deadline=None)
@given(
    first=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp", "Cf")), min_size=1, max_size=40),
    last=st.sampled_from(["Xylander", "Quokkabottom", "Zyzzyva"]),
)
def test_any_first_name_is_shown_exactly_and_escaped(first: str, last: str) -> None:
    guest = booking(name=f"{first} {last}")
    html = render_guest_page(guest, config(), SESSION_ID)

    assert f"See you on the water, {guest.first_name}!" in visible_text(html)
    assert last not in html
    # Escaped where it is written. (Not "the raw name is nowhere in the page": a name "<" or "<b" is part of any
    # page's own markup, which hypothesis found.)
    assert f"See you on the water, {escape(guest.first_name)}!" in html


def test_booking_fields_outside_the_allow_list_do_not_change_the_page() -> None:
    base = booking()
    changed = replace(base, booking_id="OTHER-1", gross=Decimal("99.99"), renter_email="x@example.org", captain="Q")

    assert render_guest_page(base, config(), SESSION_ID) == render_guest_page(changed, config(), SESSION_ID)
