"""``tracker verify --since-anchor HASH``: only what was recorded after an event verified
before, by the same checks as the full pass (:data:`tracker.audit.verify.SINCE_CHECKS`).
Both backends."""

from __future__ import annotations

import json

from test_robust_tamper import sql

from tracker.audit import verify as integrity
from tracker.audit.canonical import INVARIANTS

from conftest import invoke


def tracker(url: str, *args: str):
    return invoke(["--db", url, *args], env={"TRACKER_USER": "ana"})


def last_hash(url: str) -> str:
    result = tracker(url, "verify", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["last_hash"]


def add(url: str, title: str) -> int:
    result = tracker(
        url, "evidence", "add", "--rec", "labor-inspections", "--title", title, "--date", "2019-09-01",
        "--kind", "inspection",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return int(result.stdout)


def test_it_checks_only_what_came_after_and_says_so(url):
    anchor = last_hash(url)
    before = json.loads(tracker(url, "verify", "--json").stdout)
    add(url, "After one")
    add(url, "After two")
    result = tracker(url, "verify", "--since-anchor", anchor.upper())
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"OK: 2 events after event {before['events']}, ")
    document = json.loads(tracker(url, "verify", "--since-anchor", anchor, "--json").stdout)
    assert document["ok"] and document["anchor_seq"] == before["events"]
    assert document["events"] == before["events"] + 2  # the chain's length, as the full pass counts it
    assert document["last_hash"] == last_hash(url)
    # nothing after the last event: nothing to check, and that is fine
    assert tracker(url, "verify", "--since-anchor", document["last_hash"]).exit_code == 0


def test_a_row_changed_after_the_anchor_is_found_as_the_full_pass_finds_it(url):
    anchor = last_hash(url)
    changed = add(url, "To be changed")
    sql(url, f"UPDATE evidence SET title = 'Changed behind the chain' WHERE id = {changed}")
    since = tracker(url, "verify", "--since-anchor", anchor, "--json")
    full = tracker(url, "verify", "--json")
    assert since.exit_code == full.exit_code == 1
    found, expected = json.loads(since.stdout)["findings"], json.loads(full.stdout)["findings"]
    assert found == expected and "differs from what its event recorded (title)" in found[0]["problem"]


def test_a_row_before_the_anchor_is_the_full_passs_to_find(url):
    first = add(url, "Before the anchor")
    anchor = last_hash(url)
    add(url, "After the anchor")
    sql(url, f"UPDATE evidence SET title = 'Changed' WHERE id = {first}")
    assert tracker(url, "verify", "--since-anchor", anchor).exit_code == 0  # (as documented)
    assert tracker(url, "verify").exit_code == 1


def test_a_row_deleted_or_an_event_changed_after_the_anchor_is_found(url):
    anchor = last_hash(url)
    gone = add(url, "To be deleted")
    sql(url, f"DELETE FROM evidence_link WHERE evidence_id = {gone}")
    result = tracker(url, "verify", "--since-anchor", anchor, "--json")
    assert result.exit_code == 1
    assert [f["problem"] for f in json.loads(result.stdout)["findings"]] == ["recorded by its event but missing"]
    sql(
        url,
        "UPDATE event SET payload = replace(payload, 'To be deleted', 'Other') "
        "WHERE seq = (SELECT max(seq) FROM event)",
    )
    result = tracker(url, "verify", "--since-anchor", anchor, "--json")
    assert json.loads(result.stdout)["findings"][0]["problem"] == "hash does not match the event's content"


def test_an_anchor_not_in_the_chain_and_bad_input(url):
    missing = tracker(url, "verify", "--since-anchor", "a" * 64)
    assert missing.exit_code == 1
    assert "is not in the chain" in missing.stderr
    for bad in ("00", ""):
        refused = tracker(url, "verify", "--since-anchor", bad)
        assert refused.exit_code == 2 and "invalid --since-anchor" in refused.stderr, refused.output
    both = tracker(url, "verify", "--since-anchor", "a" * 64, "--anchor", "a" * 64)
    assert both.exit_code == 2 and "give one" in both.stderr


def test_what_it_checks_is_declared():
    assert integrity.SINCE_CHECKS <= set(INVARIANTS)
    assert set(INVARIANTS) - integrity.SINCE_CHECKS == {"storage-intact", "no-row-without-event"}
