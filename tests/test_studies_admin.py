"""koji-admin's studies commands: create --file (YAML, the docs' example;
JSON), show, list, publish/close/archive, the old create unchanged, and
the report's HTML charts of structured questions."""

from __future__ import annotations

import json
import re
from pathlib import Path

from koji_server.domain.model import StudyStatus
from tests.processes import admin

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "study.yaml"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def project(database_url: str) -> str:
    return admin(database_url, "projects", "create", "--name", "Acme").stdout.strip()


def test_create_from_the_docs_yaml_show_list_and_the_life_cycle(database_url) -> None:
    owner = project(database_url)
    created = admin(database_url, "studies", "create", "--project", owner, "--file", str(EXAMPLE))
    study_id = created.stdout.strip()
    assert re.fullmatch(UUID, study_id), created.stdout
    assert f"koji-admin studies publish {study_id}" in created.stderr
    shown = json.loads(admin(database_url, "studies", "show", study_id).stdout)
    assert shown["status"] == "draft" and shown["title"] == "How teams reach support"
    assert [q["type"] for q in shown["questions"]] == [
        "scale", "single_choice", "multiple_choice", "ranking", "yes_no", "open_ended",
    ]  # fmt: skip
    assert shown["questions"][0]["config"]["scale_labels"] == {
        "0": "Not at all likely",
        "10": "Extremely likely",
    }
    assert [o["option_id"] for o in shown["questions"][1]["config"]["options"]] == [
        "o1", "o2", "o3",
    ]  # fmt: skip
    assert shown["questions"][4]["required"] is False
    assert shown["questions"][5]["probing"]["max_follow_ups"] == 2
    assert shown["brief"]["mode"] == "structured"

    old = admin(
        database_url,
        "studies", "create", "--project", owner, "--title", "Onboarding",
        "--question", "How did you hear about us?", "--question", "What was hard?",
    ).stdout.strip()  # fmt: skip
    assert re.fullmatch(UUID, old)  # exactly the id, as before
    legacy = json.loads(admin(database_url, "studies", "show", old).stdout)
    assert legacy["status"] == "active"
    assert [q["type"] for q in legacy["questions"]] == ["open_ended", "open_ended"]

    listing = admin(database_url, "studies", "list", "--project", owner)
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [study_id, old]
    assert lines[0].split()[1] == "draft" and "2 studies" in listing.stderr
    drafts = admin(database_url, "studies", "list", "--project", owner, "--status", "draft")
    assert [line.split()[0] for line in drafts.stdout.splitlines()] == [study_id]

    for command, status in (
        ("publish", StudyStatus.ACTIVE),
        ("close", StudyStatus.COMPLETED),
        ("archive", StudyStatus.ARCHIVED),
    ):
        done = admin(database_url, "studies", command, study_id)
        assert done.stdout.strip() == f"{study_id} {status.value}"
    again = admin(database_url, "studies", "publish", study_id, check=False)
    assert again.returncode != 0 and "study_not_draft" in again.stderr
    assert "Traceback" not in again.stderr


def test_create_refuses_bad_files_and_mixed_arguments(database_url, tmp_path: Path) -> None:
    owner = project(database_url)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"title": "", "questions": [{"text": "q", "type": "slider"}]}))
    refused = admin(
        database_url, "studies", "create", "--project", owner, "--file", str(bad), check=False
    )
    assert refused.returncode != 0
    assert "study.title" in refused.stderr and "study.questions[0].type" in refused.stderr
    not_yaml = tmp_path / "x.yaml"
    not_yaml.write_text("title: [unclosed\n")
    broken = admin(
        database_url, "studies", "create", "--project", owner, "--file", str(not_yaml), check=False
    )
    assert broken.returncode != 0 and "--file" in broken.stderr
    mixed = admin(
        database_url,
        "studies", "create", "--project", owner, "--file", str(EXAMPLE), "--title", "T",
        check=False,
    )  # fmt: skip
    assert mixed.returncode != 0 and "not both" in mixed.stderr
    nothing = admin(database_url, "studies", "create", "--project", owner, check=False)
    assert nothing.returncode != 0 and "--title" in nothing.stderr
    for output in (refused, broken, mixed, nothing):
        assert "Traceback" not in output.stderr


def test_report_html_draws_one_chart_per_structured_question_above_the_themes() -> None:
    from koji_server.admin.cli import read_design
    from koji_server.admin.study_report import as_json, html_page
    from koji_server.domain import study_aggregates, study_validation
    from koji_server.domain.model import StudyReport
    from koji_server.domain.studies import with_ids

    design = study_validation.design(read_design(EXAMPLE))
    assert design.questions is not None
    questions = with_ids(design.questions)
    scale, single, multiple, ranking, yes_no, _ = questions
    interviews = [
        [
            {"question_id": scale.question_id, "type": "scale", "scale_value": value,
             "source": "widget"},
            {"question_id": single.question_id, "type": "single_choice",
             "option_ids": [choice], "source": "text"},
            {"question_id": multiple.question_id, "type": "multiple_choice",
             "option_ids": ["o1", "o3"], "source": "widget"},
            {"question_id": ranking.question_id, "type": "ranking",
             "option_ids": order, "source": "widget"},
            {"question_id": yes_no.question_id, "type": "yes_no", "skipped": True},
        ]
        for value, choice, order in (
            (9, "o1", ["o1", "o2", "o3"]),
            (7, "o2", ["o2", "o1", "o3"]),
            (9, "o1", ["o1", "o3", "o2"]),
        )
    ]  # fmt: skip
    aggregates = study_aggregates.aggregate(questions, interviews)
    report = StudyReport("s", 3, 0, None, (), aggregates)
    page = html_page(report, "Study: How teams reach support", {scale.question_id: (0, 10)})
    assert page.count("<svg") == 6  # five questions, then the themes
    assert page.index(scale.text) < page.index("Themes by share of interviews")
    assert "<title>9: 2</title>" in page and "<title>10: 0</title>" in page  # every point drawn
    assert "mean place 1.3" in page  # Speed: places 1, 2, 1
    shown = as_json(report)["questions"]
    assert shown[0]["mean"] == (9 + 7 + 9) / 3 and shown[0]["distribution"] == {"7": 1, "9": 2}
    assert shown[4] == {
        "question_id": yes_no.question_id, "text": yes_no.text, "type": "yes_no",
        "responses": 0, "skipped": 3, "distribution": {},
        "options": [
            {"option_id": "yes", "label": "Yes", "count": 0, "share": 0.0},
            {"option_id": "no", "label": "No", "count": 0, "share": 0.0},
        ],
    }  # fmt: skip
