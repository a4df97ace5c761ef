"""Faults on demand: every mode, counts, matching, the admin API; on JADA and behind SCC's stage."""

from __future__ import annotations

import threading

import pytest
import requests

from sandbox.faults import Call, Fault, FaultBook
from sandbox.jada import DEFAULT_DASHBOARD_TOKEN, JadaCalendar
from sandbox.scc import DEFAULT_SERVICE_KEY
from sandbox.stack import SandboxStack
from tests.sandbox.service_bodies import calendar_entry, scc_event

JADA = {"X-Dashboard-Token": DEFAULT_DASHBOARD_TOKEN}
SCC = {"Authorization": f"Bearer {DEFAULT_SERVICE_KEY}"}


def post_entry(stack: SandboxStack, timeout: float = 5) -> requests.Response:
    return requests.post(stack.jada_url + "/calendar", json=calendar_entry(), headers=JADA, timeout=timeout)


def test_status_fault_answers_without_doing_the_work_then_passes(stack: SandboxStack) -> None:
    stack.jada.inject(method="POST", path="/calendar", mode="status", status=503, count=2)

    answers = [post_entry(stack).status_code for _ in range(3)]

    assert answers == [503, 503, 201]
    assert len(stack.jada.entries()) == 1
    assert [(e["status"], e.get("fault")) for e in stack.jada.logged("POST")] == [
        (503, "status"),
        (503, "status"),
        (201, None),
    ]


def test_429_carries_retry_after(stack: SandboxStack) -> None:
    stack.jada.inject(method="GET", path="/calendar", status=429)

    answer = requests.get(stack.jada_url + "/calendar", headers=JADA, timeout=5)

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"


def test_hang_outlasts_the_client_timeout_and_the_work_is_done(stack: SandboxStack) -> None:
    stack.jada.inject(method="POST", path="/calendar", mode="hang", seconds=1.5)

    with pytest.raises(requests.ReadTimeout):
        post_entry(stack, timeout=0.3)

    assert len(stack.jada.entries("boatsetter:BS-1001")) == 1
    assert post_entry(stack).status_code == 201  # the fault was used up


def test_drop_closes_the_connection_and_does_nothing(stack: SandboxStack) -> None:
    stack.jada.inject(method="POST", path="/calendar", mode="drop")

    with pytest.raises(requests.ConnectionError):
        post_entry(stack)

    assert stack.jada.entries() == []
    assert stack.jada.logged("POST")[0]["fault"] == "drop"


def test_lose_answer_creates_the_record_then_drops_the_connection(stack: SandboxStack) -> None:
    stack.jada.inject(method="POST", path="/calendar", mode="lose_answer")

    with pytest.raises(requests.ConnectionError):
        post_entry(stack)

    found = requests.get(
        stack.jada_url + "/calendar", params={"external_id": "boatsetter:BS-1001"}, headers=JADA, timeout=5
    ).json()["items"]
    assert len(found) == 1
    assert (stack.jada.logged("POST")[0]["status"], stack.jada.logged("POST")[0]["fault"]) == (201, "lose_answer")


def test_scc_faults_match_paths_without_the_stage(stack: SandboxStack) -> None:
    stack.scc.inject(method="POST", path="/events", mode="lose_answer")

    with pytest.raises(requests.ConnectionError):
        requests.post(stack.scc_url + "/events", json=scc_event(), headers=SCC, timeout=5)

    assert len(stack.scc.events("boatsetter:BS-1001")) == 1
    assert len(stack.scc.outbox()) == 2  # the crew were e-mailed although the client never heard back


def test_a_glob_path_matches_patch_of_any_entry(stack: SandboxStack) -> None:
    entry_id = post_entry(stack).json()["id"]
    stack.jada.inject(method="PATCH", path="/calendar/*", status=500)

    answer = requests.patch(stack.jada_url + f"/calendar/{entry_id}", json={"party_size": 9}, headers=JADA, timeout=5)

    assert answer.status_code == 500
    assert stack.jada.entries()[0]["party_size"] == 6


def test_admin_api_arms_lists_and_clears_faults(stack: SandboxStack) -> None:
    admin = stack.jada.root_url + "/_sandbox/faults"

    armed = requests.post(
        admin, json={"method": "POST", "path": "/calendar", "mode": "status", "status": 503, "count": 3}, timeout=5
    )
    listed = requests.get(admin, timeout=5).json()["faults"]
    first = post_entry(stack).status_code
    cleared = requests.delete(admin, timeout=5).json()

    assert armed.status_code == 201
    assert [(f["path"], f["count"]) for f in listed] == [("/calendar", 3)]
    assert first == 503
    assert cleared == {"cleared": 1}
    assert post_entry(stack).status_code == 201


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ({"mode": "explode"}, "mode"),
        ({"status": 42}, "status"),
        ({"count": 0}, "count"),
        ({"seconds": -1}, "seconds"),
        ({"path": "calendar"}, "path"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_admin_api_refuses_a_bad_fault_naming_the_field(
    stack: SandboxStack, fault: dict[str, object], field: str
) -> None:
    answer = requests.post(stack.jada.root_url + "/_sandbox/faults", json=fault, timeout=5)

    assert answer.status_code == 422
    assert answer.json()["message"].startswith(f"{field}: ")
    assert stack.jada.faults.pending() == []


def test_faults_are_consumed_in_injection_order() -> None:
    book = FaultBook()
    book.inject(Fault(method="POST", path="/calendar", status=500))
    book.inject(Fault(method="*", path="*", status=429, count=2))

    taken = [
        book.take(Call(method, path))
        for method, path in [("GET", "/calendar"), ("POST", "/calendar"), ("POST", "/calendar"), ("POST", "/calendar")]
    ]

    assert [fault.status if fault else None for fault in taken] == [429, 500, 429, None]


def test_stopping_a_service_releases_a_hung_call() -> None:
    calendar = JadaCalendar().start()
    calendar.inject(method="GET", path="/calendar", mode="hang", seconds=600)
    before = set(threading.enumerate())
    with pytest.raises(requests.ReadTimeout):
        requests.get(calendar.url + "/calendar", headers=JADA, timeout=0.2)
    hung = [t for t in threading.enumerate() if t not in before and t.is_alive()]

    calendar.stop()

    assert hung, "the hung call should be held by a handler thread"
    for thread in hung:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in hung)


def test_reset_resets_the_connection_and_does_nothing(stack: SandboxStack) -> None:
    stack.jada.inject(method="POST", path="/calendar", mode="reset")

    with pytest.raises(requests.ConnectionError) as failed:
        post_entry(stack)

    assert "Connection reset by peer" in str(failed.value)
    assert stack.jada.entries() == []
    assert stack.jada.logged("POST")[0]["fault"] == "reset"


def test_a_fault_without_a_count_stays_until_cleared(stack: SandboxStack) -> None:
    stack.jada.inject(method="POST", path="/calendar", status=503, count=None)

    answers = [post_entry(stack).status_code for _ in range(5)]
    stack.jada.clear_faults()

    assert answers == [503] * 5
    assert post_entry(stack).status_code == 201


def test_rated_faults_share_one_seeded_draw() -> None:
    def outcomes(book: FaultBook) -> list[int | None]:
        taken = [book.take(Call("POST", "/events")) for _ in range(1000)]
        return [fault.status if fault else None for fault in taken]

    book = FaultBook(seed=11)
    book.inject(Fault(method="POST", path="/events", status=503, count=None, rate=0.1))
    book.inject(Fault(method="POST", path="/events", status=429, count=None, rate=0.2))
    first = outcomes(book)
    book.reseed(11)
    again = outcomes(book)

    assert first == again
    assert 0.07 <= first.count(503) / 1000 <= 0.13
    assert 0.16 <= first.count(429) / 1000 <= 0.24
    assert book.take(Call("GET", "/events")) is None, "a call no fault matches draws nothing"


def test_queued_faults_come_before_rated_ones_and_counts_cap_rated_ones() -> None:
    book = FaultBook()
    book.inject(Fault(status=500, rate=0.999, count=2))
    book.inject(Fault(status=429, count=1))

    taken = [book.take(Call("GET", "/calendar")) for _ in range(4)]

    assert [fault.status if fault else None for fault in taken] == [429, 500, 500, None]


def test_a_call_keeps_its_fate_whatever_other_calls_came_between() -> None:
    """Parallel tasks interleave their calls differently each run; a given call's n-th try meets the same fault."""
    alone, busy = FaultBook(seed=5), FaultBook(seed=5)
    for book in (alone, busy):
        book.inject(Fault(path="/calendar/*", status=503, count=None, rate=0.5))
    mine = Call("PATCH", "/calendar/cal_1")

    fates_alone = [alone.take(mine) is not None for _ in range(20)]
    fates_busy = []
    for n in range(20):
        busy.take(Call("PATCH", f"/calendar/cal_other{n}"))
        fates_busy.append(busy.take(mine) is not None)

    assert fates_alone == fates_busy


def test_admin_api_reseeds_and_refuses_a_bad_rate(stack: SandboxStack) -> None:
    seeded = requests.post(stack.jada.root_url + "/_sandbox/faults/seed", json={"seed": 4}, timeout=5)
    refused = requests.post(stack.jada.root_url + "/_sandbox/faults/seed", json={"seed": "four"}, timeout=5)
    bad_rate = requests.post(stack.jada.root_url + "/_sandbox/faults", json={"rate": 1.5}, timeout=5)

    assert seeded.json() == {"seed": 4}
    assert refused.status_code == 422
    assert (bad_rate.status_code, bad_rate.json()["message"].split(":")[0]) == (422, "rate")


def test_chaos_fails_a_share_of_calls_with_every_http_kind(stack: SandboxStack) -> None:
    stack.jada.chaos(0.6, seed=2, method="POST", path="/calendar")
    answers = []
    for _ in range(60):
        try:
            answers.append(post_entry(stack).status_code)
        except requests.ConnectionError:
            answers.append(0)
    stack.jada.clear_faults()

    modes = {(e["fault"], e["status"]) for e in stack.jada.logged("POST") if e.get("fault")}
    assert 0.4 <= sum(a != 201 for a in answers) / len(answers) <= 0.8
    assert {m for m, _ in modes} == {"status", "drop", "reset", "lose_answer"}
    assert {s for m, s in modes if m == "status"} == {500, 503, 429}
    lost = sum(1 for e in stack.jada.logged("POST") if e.get("fault") == "lose_answer")
    assert len(stack.jada.entries()) == answers.count(201) + lost, "only answered and lost creates did the work"
