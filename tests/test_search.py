"""GET /api/v1/search through a real Envoy, on the engine under test:
keyword, phrase, exclusion, paraphrase, every filter, paging, scoping, the
index following new messages and a reanalysis, and the 400s."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from koji_server.domain.model import Permission
from koji_server.storage import postgres
from tests.conftest import Rest, Tenant, add_key, make_tenant
from tests.helpers import query
from tests.processes import admin
from tests.test_rest import assert_envelope

# What these check through Envoy is each engine's full-text index and
# search entries: the PostgreSQL run repeats them.
pytestmark = pytest.mark.storage

IMPORT = "The CSV importer drops rows whenever the file has a header line."
DARK = "I would really love a dark mode for working late in the evening."
SUPPORT = "Your support team answered my ticket within an hour, that was brilliant."
PRICE = "The price per seat is far too expensive for a small team like ours."
MOBILE = "The iPhone app crashes every time I open a dashboard chart."
OTHER_PROJECT = "The zebrafish importer of the other project leaks nothing."


def execute(database_url: str, sql: str) -> None:
    """Run one change on the database, committed."""
    if postgres.is_postgres(database_url):
        engine = postgres.sync_engine(database_url)
        try:
            with engine.begin() as connection:
                connection.execute(text(sql))
        finally:
            engine.dispose()
        return
    query(database_url, sql)


@pytest.fixture(scope="module")
def world(rest: Rest) -> dict[str, Any]:
    """Two analysed interviews in the tenant's study (respondent metadata
    plan=pro and plan=free), one in a second study, and one in another
    project; waits until search finds them by meaning."""
    tenant = rest.tenant
    run = rest.threaded.run
    other = run(make_tenant(rest.threaded.database_url))
    second = run(make_tenant(rest.threaded.database_url))
    # The second tenant's study, moved into the tenant's project.
    execute(
        rest.threaded.database_url,
        f"UPDATE studies SET project_id = '{tenant.project_id}' WHERE id = '{second.study_id}'",
    )

    def interview(who: Tenant, study_id: str, answers: list[str], plan: str) -> dict[str, Any]:
        headers = rest.headers(key=who.api_key)
        started = rest.client.post(
            "/api/v1/interviews/start",
            json={"study_id": study_id, "respondent": {"metadata": {"plan": plan}}},
            headers=headers,
        ).json()
        for answer in answers:
            sent = rest.client.post(
                f"/api/v1/interviews/{started['interview_id']}/messages",
                json={"content": answer},
                headers={**headers, "X-Session-Token": started["session_token"]},
            )
            assert sent.status_code == 200, sent.text
        done = rest.client.post(
            f"/api/v1/interviews/{started['interview_id']}/complete",
            json={"reason": "natural"},
            headers={**headers, "X-Session-Token": started["session_token"]},
        )
        assert done.status_code == 200, done.text
        return started

    first = interview(tenant, tenant.study_id, [IMPORT, DARK, SUPPORT], "pro")
    pricing = interview(tenant, tenant.study_id, [PRICE, MOBILE, DARK.replace("I", "We")], "free")
    elsewhere = interview(tenant, second.study_id, [MOBILE.replace("iPhone", "Android")], "free")
    foreign = interview(other, other.study_id, [OTHER_PROJECT, IMPORT], "pro")
    deadline = time.monotonic() + 90
    while True:
        indexed = query(rest.threaded.database_url, "SELECT count(*) FROM search_entries")[0][0]
        if indexed >= 9:
            break
        assert time.monotonic() < deadline, indexed
        time.sleep(0.2)
    return {
        "first": first,
        "pricing": pricing,
        "elsewhere": elsewhere,
        "foreign": foreign,
        "other": other,
        "second_study": second.study_id,
    }


def search(rest: Rest, key: str | None = None, **params: Any) -> Any:
    url = "/api/v1/search"
    if params:
        url += "?" + urlencode(params)
    return rest.client.get(url, headers={"Authorization": f"Bearer {key or rest.tenant.api_key}"})


def quotes(rest: Rest, **params: Any) -> list[str]:
    response = search(rest, **params)
    assert response.status_code == 200, response.text
    return [r["quote"] for r in response.json()["results"]]


def test_keyword_search_answers_the_documented_fields(rest: Rest, world: dict[str, Any]) -> None:
    response = search(rest, q="importer")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"results", "next_page_token"}
    top = body["results"][0]
    assert set(top) == {
        "interview_id", "message_id", "study_id", "quote", "highlight", "score", "type",
        "theme_id", "theme_label", "sentiment", "quality_score", "created_at",
    }  # fmt: skip
    assert top["quote"] == IMPORT
    assert "«importer»" in top["highlight"]
    assert top["interview_id"] == world["first"]["interview_id"]
    assert top["study_id"] == rest.tenant.study_id
    assert top["score"] > 0 and top["quality_score"] >= 1.0


def test_phrase_and_exclusion(rest: Rest, world: dict[str, Any]) -> None:
    assert IMPORT in quotes(rest, q='"header line"')
    found = quotes(rest, q='"dark mode"')
    assert found and all("dark mode" in q for q in found)
    # Without the phrase's words in order, nothing by a phrase.
    assert quotes(rest, q='"mode dark"') == []
    assert IMPORT not in quotes(rest, q="importer rows -header")
    assert IMPORT in quotes(rest, q="importer rows -zeppelin")


def test_paraphrase_is_found_by_meaning(rest: Rest, world: dict[str, Any]) -> None:
    assert IMPORT in quotes(rest, q="trouble uploading spreadsheets")[:3]
    assert PRICE in quotes(rest, q="costly subscription plans")[:3]


def test_filters(rest: Rest, world: dict[str, Any]) -> None:
    study = rest.tenant.study_id
    android = MOBILE.replace("iPhone", "Android")
    # (A one-answer interview may fail the quality gate: include_excluded.)
    wide = {"include_excluded": "true"}
    assert android in quotes(rest, q="app crashes", **wide)
    assert android not in quotes(rest, q="app crashes", study_id=study, **wide)
    assert quotes(rest, q="app crashes", study_id=world["second_study"], **wide) == [android]
    pro = quotes(rest, **{"q": "dark mode", "metadata.plan": "pro"})
    assert pro == [DARK]
    assert quotes(rest, **{"q": "dark mode", "metadata[plan]": "free"}) == [DARK.replace("I", "We")]
    for result in search(rest, q="team", type="praise").json()["results"]:
        assert result["type"] == "praise"
    for result in search(rest, q="team", sentiment="negative").json()["results"]:
        assert result["sentiment"] <= -0.2
    for result in search(rest, q="team", sentiment="positive").json()["results"]:
        assert result["sentiment"] >= 0.2
    scores = [r["quality_score"] for r in search(rest, q="team").json()["results"]]
    assert quotes(rest, q="team", min_quality=max(scores) + 0.1 if max(scores) < 5 else 5.0) == []
    assert quotes(rest, q="team", min_quality=1.0)
    assert quotes(rest, q="importer", before="2000-01-01T00:00:00Z") == []
    assert IMPORT in quotes(rest, q="importer", after="2000-01-01T00:00:00Z")
    assert quotes(rest, q="importer", after="2999-01-01T00:00:00Z") == []
    report = rest.client.get(f"/api/v1/studies/{study}/report", headers=rest.headers()).json()
    theme = report["themes"][0]
    themed = search(rest, q="", study_id=study, theme_id=theme["theme_id"]).json()["results"]
    assert themed and all(r["theme_id"] == theme["theme_id"] for r in themed)
    assert all(r["theme_label"] == theme["label"] for r in themed)


def test_excluded_interviews_only_on_request(rest: Rest, world: dict[str, Any]) -> None:
    first = world["first"]["interview_id"]
    execute(
        rest.threaded.database_url,
        f"UPDATE analyses SET counts_toward_usage = false WHERE interview_id = '{first}'",
    )
    try:
        assert IMPORT not in quotes(rest, q="importer")
        assert IMPORT in quotes(rest, q="importer", include_excluded="true")
    finally:
        execute(
            rest.threaded.database_url,
            f"UPDATE analyses SET counts_toward_usage = true WHERE interview_id = '{first}'",
        )


def test_empty_query_lists_newest_first_and_pages(rest: Rest, world: dict[str, Any]) -> None:
    listed = search(rest, study_id=rest.tenant.study_id, page_size=2).json()
    assert len(listed["results"]) == 2 and listed["next_page_token"]
    times = [r["created_at"] for r in listed["results"]]
    assert times == sorted(times, reverse=True)
    seen = [r["message_id"] for r in listed["results"]]
    token = listed["next_page_token"]
    while token:
        page = search(rest, study_id=rest.tenant.study_id, page_size=2, page_token=token).json()
        seen += [r["message_id"] for r in page["results"]]
        token = page["next_page_token"]
    assert len(seen) == len(set(seen)) == 6


def test_ranked_paging(rest: Rest, world: dict[str, Any]) -> None:
    everything = [r["message_id"] for r in search(rest, q="team app importer").json()["results"]]
    assert len(everything) >= 3
    first = search(rest, q="team app importer", page_size=1).json()
    second = search(
        rest, q="team app importer", page_size=1, page_token=first["next_page_token"]
    ).json()
    assert [r["message_id"] for r in first["results"] + second["results"]] == everything[:2]
    elsewhere = search(rest, q="other words", page_token=first["next_page_token"])
    assert_envelope(elsewhere, 400, "invalid_request")


def test_another_projects_words_never_appear(rest: Rest, world: dict[str, Any]) -> None:
    assert quotes(rest, q="zebrafish") == []
    assert OTHER_PROJECT not in quotes(rest, q="importer leaks nothing", include_excluded="true")
    # Its two short answers may not pass the quality gate: the project's own
    # interview, excluded or not, is what it finds.
    theirs = search(
        rest, key=world["other"].api_key, q="zebrafish importer", include_excluded="true"
    ).json()["results"]
    assert {r["interview_id"] for r in theirs} == {world["foreign"]["interview_id"]}
    # The operator's search names a study and sees its project only.
    printed = admin(
        rest.threaded.database_url, "search", "importer", "--study", rest.tenant.study_id
    )
    assert "CSV importer" in printed.stdout and "zebrafish" not in printed.stdout


def test_a_new_message_is_found_by_its_words_at_once(rest: Rest, world: dict[str, Any]) -> None:
    started = rest.start()
    sent = rest.send(started, "Honestly the quokka-themed onboarding made me smile.")
    assert sent.status_code == 200, sent.text
    found = search(rest, q="quokka").json()["results"]
    assert [r["interview_id"] for r in found] == [started["interview_id"]]
    assert "«quokka»" in found[0]["highlight"]


def test_a_reanalysis_reindexes_the_interview(rest: Rest, world: dict[str, Any]) -> None:
    url = rest.threaded.database_url
    interview_id = world["pricing"]["interview_id"]
    # Its entries lose their meaning (zero vectors, stamped now, so that the
    # server's vector cache takes the change in).
    if postgres.is_postgres(url):
        zeros, now = "decode(repeat('00', length(embedding)), 'hex')", "timezone('UTC', now())"
    else:
        zeros, now = "zeroblob(length(embedding))", "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    execute(
        url,
        f"UPDATE search_entries SET embedding = {zeros}, indexed_at = {now}"
        f" WHERE interview_id = '{interview_id}'",
    )
    assert PRICE not in quotes(rest, q="costly subscription plans")[:3]
    admin(url, "interviews", "reanalyze", interview_id)
    assert PRICE in quotes(rest, q="costly subscription plans")[:3]
    assert (
        query(url, f"SELECT count(*) FROM search_entries WHERE interview_id = '{interview_id}'")[0][
            0
        ]
        == 3
    )


def test_bad_parameters_are_400_with_field_violations(rest: Rest, world: dict[str, Any]) -> None:
    for params in (
        {"q": "x" * 501},
        {"type": "complaint"},
        {"sentiment": "angry"},
        {"min_quality": "9"},
        {"study_id": "not-a-uuid"},
        {"theme_id": "t1"},
        {"page_size": "-1"},
        {"page_token": "garbage"},
        {"after": "2026-01-02T00:00:00Z", "before": "2026-01-01T00:00:00Z"},
        {"unknown": "1"},
        {"after": "yesterday"},
    ):
        assert_envelope(search(rest, **params), 400, "invalid_request")
    assert search(rest, q="x" * 500).status_code == 200
    reader_less = rest.threaded.run(
        add_key(rest.threaded.database_url, rest.tenant.project_id, frozenset({Permission.START}))
    )
    assert_envelope(search(rest, key=reader_less, q="x"), 403, "forbidden")
    assert_envelope(rest.client.get("/api/v1/search?q=x"), 401, "unauthorized")
