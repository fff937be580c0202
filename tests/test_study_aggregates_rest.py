"""A study of every question type, 20 interviews driven through REST (real
Envoy, real server, the pipeline), and the report's question aggregates
against the ones this test computes from the answers it gave."""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from typing import Any

from tests.conftest import Rest, make_tenant
from tests.test_studies_rest import create, headers

INTERVIEWS = 20
OPEN_ANSWER = (
    "Our support tickets wait over the weekend because nobody watches the shared inbox, "
    "and the customers who write on Saturday usually leave before Monday."
)
# Words the parser reads, by question position and value.
SCALE_WORDS = {3: "I'd say a three", 7: "probably a seven", 9: "nine out of ten", 10: "10/10"}
CHOICE_WORDS = {"o1": "mostly Slack", "o2": "email, always email", "o3": "the phone"}


def plan(number: int, rng: random.Random) -> list[dict[str, Any]]:
    """What interview `number` answers, question by question: a widget answer,
    words, or None (two unreadable messages: skipped)."""
    scale = rng.choice([3, 7, 9, 10, 4, 8])
    single = rng.choice(["o1", "o2", "o3"])
    multiple = rng.choice([["o1"], ["o2"], ["o1", "o2"]])
    ranking = rng.choice([["o1", "o2", "o3"], ["o3", "o1", "o2"], ["o2", "o3", "o1"]])
    yes = rng.choice([True, False])
    return [
        {"scale_value": scale, "words": SCALE_WORDS.get(scale)},
        {"option_ids": [single], "words": CHOICE_WORDS[single]},
        {"option_ids": multiple},
        {"option_ids": ranking},
        None if number % 7 == 3 else {"yes_no": yes, "words": "yep" if yes else "nope"},
    ]


def expected(
    study: dict[str, Any], given: list[list[dict[str, Any] | None]]
) -> list[dict[str, Any]]:
    """The aggregates, computed here from the answers given."""
    result = []
    for index, question in enumerate(study["questions"][:5]):
        values = [g[index] for g in given]
        answered = [v for v in values if v is not None]
        row: dict[str, Any] = {
            "question_id": question["question_id"],
            "responses": len(answered),
            "skipped": len(values) - len(answered),
        }
        if question["type"] == "scale":
            numbers = [v["scale_value"] for v in answered]
            row["mean"] = statistics.fmean(numbers)
            row["median"] = float(statistics.median(numbers))
            row["distribution"] = {str(k): c for k, c in Counter(numbers).items()}
        elif question["type"] == "yes_no":
            counts = Counter("yes" if v["yes_no"] else "no" for v in answered)
            row["options"] = {k: (counts[k], counts[k] / len(answered)) for k in ("yes", "no")}
        elif question["type"] == "ranking":
            ids = [o["option_id"] for o in question["config"]["options"]]
            row["options"] = {
                i: (
                    sum(v["option_ids"][0] == i for v in answered),
                    sum(v["option_ids"][0] == i for v in answered) / len(answered),
                    statistics.fmean(v["option_ids"].index(i) + 1 for v in answered),
                )
                for i in ids
            }
        else:
            ids = [o["option_id"] for o in question["config"]["options"]]
            row["options"] = {
                i: (
                    sum(i in v["option_ids"] for v in answered),
                    sum(i in v["option_ids"] for v in answered) / len(answered),
                )
                for i in ids
            }
        result.append(row)
    return result


def reported(aggregate: dict[str, Any]) -> dict[str, Any]:
    """A report aggregate in expected()'s shape."""
    row: dict[str, Any] = {
        "question_id": aggregate["question_id"],
        "responses": aggregate["responses"],
        "skipped": aggregate["skipped"],
    }
    if aggregate["type"] == "scale":
        row["mean"] = aggregate["mean"]
        row["median"] = aggregate["median"]
        row["distribution"] = aggregate["distribution"]
    elif aggregate["type"] == "ranking":
        row["options"] = {
            o["option_id"]: (o["count"], o["share"], o["mean_rank"]) for o in aggregate["options"]
        }
    else:
        row["options"] = {o["option_id"]: (o["count"], o["share"]) for o in aggregate["options"]}
    return row


def rounded(value: Any) -> Any:
    """Floats to 9 decimals, throughout (the server sums in another order)."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def test_twenty_interviews_give_the_aggregates_computed_from_their_answers(rest: Rest) -> None:
    tenant = rest.threaded.run(make_tenant(rest.threaded.database_url))
    key = tenant.api_key
    study = create(rest, key)
    sid = study["study_id"]
    assert rest.client.post(
        f"/api/v1/studies/{sid}/publish", json={}, headers=headers(key)
    ).is_success
    rng = random.Random(21)
    given: list[list[dict[str, Any] | None]] = []
    interview_ids = []
    for number in range(INTERVIEWS):
        answers = plan(number, rng)
        given.append(answers)
        started = rest.client.post(
            "/api/v1/interviews/start", json={"study_id": sid}, headers=headers(key)
        ).json()
        interview_ids.append(started["interview_id"])
        url = f"/api/v1/interviews/{started['interview_id']}/messages"
        session = headers(key, started["session_token"])
        question = started["initial_message"]["question"]
        for answer in answers:
            if answer is None:  # two messages that give no answer: skipped
                for words in ("hmm, what do you mean?", "I'd rather not say"):
                    sent = rest.client.post(url, json={"content": words}, headers=session)
                    assert sent.status_code == 200, sent.text
            elif answer.get("words") and number % 2 == 0:  # said in words
                sent = rest.client.post(url, json={"content": answer["words"]}, headers=session)
                assert sent.status_code == 200, sent.text
            else:
                widget = {k: v for k, v in answer.items() if k != "words"}
                sent = rest.client.post(
                    url,
                    json={"answer": {"question_id": question["question_id"], **widget}},
                    headers=session,
                )
                assert sent.status_code == 200, sent.text
            follow = sent.json()["interviewer_response"]
            assert not follow["question"]["follow_up"] or answer is None, (answer, follow)
            question = follow["question"]
        assert question["type"] == "open_ended"
        for words in (OPEN_ANSWER, "That is really the one thing I would change first."):
            sent = rest.client.post(url, json={"content": words}, headers=session)
            assert sent.status_code == 200, sent.text
        done = rest.client.post(
            f"/api/v1/interviews/{started['interview_id']}/complete",
            json={"reason": "natural"},
            headers=session,
        )
        assert done.status_code == 200, done.text

    # Every interview answered the structured questions and one open one in
    # full sentences: each passes the gate of a `structured` study.
    deadline = time.monotonic() + 240
    while True:
        report = rest.client.get(f"/api/v1/studies/{sid}/report", headers=headers(key)).json()
        if report["interviews_analyzed"] + report["interviews_excluded"] == INTERVIEWS:
            break
        assert time.monotonic() < deadline, report
        time.sleep(0.5)
    assert report["interviews_analyzed"] == INTERVIEWS, report
    got = [reported(a) for a in report["questions"]]
    want = expected(study, given)
    assert [g["question_id"] for g in got] == [w["question_id"] for w in want]
    assert rounded(got) == rounded(want)
    # Each interview's own answers are those it gave.
    sample = rest.client.get(f"/api/v1/interviews/{interview_ids[3]}", headers=headers(key))
    answers = sample.json()["answers"]
    assert [a["skipped"] for a in answers] == [False, False, False, False, True, False]
    assert answers[0]["scale_value"] == given[3][0]["scale_value"]  # type: ignore[index]
