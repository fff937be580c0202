"""Search's quality on a corpus written for it (eval/search_corpus.json):
nDCG@10 and recall@10 for BM25 alone, the embeddings alone and the hybrid.

The corpus is put in a fresh SQLite database made by the real migrations
(40 interviews, two respondent segments in their metadata), indexed by the
real indexer (storage.search_index, the analysis's encoder), and searched
by the real code: SearchStore.keyword (BM25), the vector cache's nearest
(cosine, no threshold), and SearchService.search (the fusion, as the API
serves it). Grades: 2 for an answer of the query's subtopic, 1 for a
related one; recall@10 is the share of the relevant answers found in the
top 10, out of at most 10 (a query with more relevant answers than 10 can
still reach 1.0). The queries were never used to choose a parameter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "eval" / "search_corpus.json"
INTERVIEWS = 40
TARGET_NDCG = 0.80
TARGET_MARGIN = 0.05
TARGET_PARAPHRASE_RECALL = 0.85
K = 10


def dcg(gains: list[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg(found: list[str], grades: dict[str, int]) -> float:
    ideal = dcg(sorted(grades.values(), reverse=True)[:K])
    return dcg([grades.get(m, 0) for m in found[:K]]) / ideal if ideal else 0.0


def recall(found: list[str], grades: dict[str, int]) -> float:
    relevant = {m for m, g in grades.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(found[:K])) / min(K, len(relevant))


def build(database_url: str, corpus: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, str]]:
    """The corpus as a project, a study and 40 analysed interviews; the
    study id, each message's subtopic and each message's plan."""
    from sqlalchemy import text

    from koji_server.storage import migrate, search_index
    from koji_server.storage.backends import sync_engines

    asyncio.run(migrate.upgrade(database_url))
    answers = [(topic, a) for topic, items in corpus["answers"].items() for a in items]
    answers += [("filler", a) for a in corpus["filler"]]
    project, study = str(uuid.uuid4()), str(uuid.uuid4())
    start = datetime(2026, 11, 1, tzinfo=UTC).replace(tzinfo=None)
    topic_of: dict[str, str] = {}
    plan_of: dict[str, str] = {}
    engine = sync_engines(database_url)[1]
    with engine.begin() as c:
        c.execute(text("INSERT INTO projects VALUES (:p, 'eval', :t)"), {"p": project, "t": start})
        c.execute(
            text(
                "INSERT INTO studies (id, project_id, title, questions, created_at)"
                " VALUES (:s, :p, 'eval', '[]', :t)"
            ),
            {"s": study, "p": project, "t": start},
        )
        for n in range(INTERVIEWS):
            plan = "pro" if n % 2 == 0 else "free"
            c.execute(
                text(
                    "INSERT INTO interviews (id, project_id, study_id, session_token_hash,"
                    " status, mode, locale, respondent_external_id, respondent_display_name,"
                    " respondent_metadata, question_index, follow_up_asked,"
                    " respondent_messages, interviewer_messages, started_at, completed_at,"
                    " analysis_status, updated_at) VALUES (:i, :p, :s, 'h', 'completed', 'text',"
                    " 'en', '', '', :m, 0, false, 0, 0, :t, :t, 'completed', :t)"
                ),
                {"i": f"i{n}", "p": project, "s": study, "m": json.dumps({"plan": plan}),
                 "t": start + timedelta(hours=n)},
            )  # fmt: skip
            c.execute(
                text("INSERT INTO analyses VALUES (:i, 4.0, '{}', true, '[]', '[]', '{}', '', :t)"),
                {"i": f"i{n}", "t": start + timedelta(hours=n)},
            )
        for j, (topic, answer) in enumerate(answers):
            interview = f"i{j % INTERVIEWS}"
            message = f"m{j}"
            topic_of[message] = topic
            plan_of[message] = "pro" if (j % INTERVIEWS) % 2 == 0 else "free"
            c.execute(
                text(
                    "INSERT INTO messages (id, interview_id, seq, role, content, created_at)"
                    " VALUES (:id, :i, :seq, 'respondent', :content, :t)"
                ),
                {"id": message, "i": interview, "seq": j, "content": answer,
                 "t": start + timedelta(hours=j % INTERVIEWS, minutes=j)},
            )  # fmt: skip
        search_index.backfill(c)
    engine.dispose()
    return study, topic_of, plan_of


async def run(database_url: str, corpus: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from koji_server.api.search_setup import make_search
    from koji_server.domain.model import OPERATOR
    from koji_server.domain.page_tokens import PageTokens
    from koji_server.domain.search import SearchFilters, SearchRequest, parse_query
    from koji_server.storage import search_index
    from koji_server.storage.backends import open_database
    from koji_server.storage.search_store import SearchStore
    from koji_server.storage.unit_of_work import UnitOfWorkFactory

    study, topic_of, plan_of = await asyncio.to_thread(build, database_url, corpus)
    database = open_database(database_url)
    units = UnitOfWorkFactory(database)
    service, encoder = make_search(units, PageTokens(os.urandom(32)))
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    try:
        project = await units.read(lambda u: SearchStore(u.session).study_project(study))
        for item in corpus["queries"]:
            plan = item.get("filter", {}).get("plan")
            grades = {
                m: item["relevant"].get(topic, 0)
                for m, topic in topic_of.items()
                if plan is None or plan_of[m] == plan
            }
            metadata = (f"plan={plan}",) if plan else ()
            filters = SearchFilters(
                project_id=project,
                study_id=study,
                metadata=(("plan", plan),) if plan else (),
            )
            parsed = parse_query(item["q"])
            scored = await units.read(
                lambda u, p=parsed, f=filters: SearchStore(u.session).keyword(p, f, K)
            )
            bm25 = [message_id for message_id, _ in scored]
            vector = np.frombuffer(search_index.encode_query(parsed.text), dtype="<f4")
            from koji_server.storage.search_store import SearchStore as Store

            async def rows(p: str, since: datetime | None) -> list[Any]:
                return await units.read(lambda u: Store(u.session).vector_rows(p, since))

            from koji_server.storage.search_vectors import VectorIndex

            vectors = await VectorIndex(lambda: datetime.now(UTC)).project(project, rows)
            allowed = (
                await units.read(
                    lambda u, f=filters: SearchStore(u.session).interviews_with_metadata(f)
                )
                if plan
                else None
            )
            meaning = [m for m, _ in vectors.nearest(vector, filters, allowed, K, -1.0)]
            page = await service.search(
                OPERATOR, SearchRequest(q=item["q"], study_id=study, metadata=metadata, page_size=K)
            )
            hybrid = [hit.result.message_id for hit in page.results]
            for name, found in (("bm25", bm25), ("embeddings", meaning), ("hybrid", hybrid)):
                for kind in ("all", item["kind"]):
                    scores[name][f"ndcg/{kind}"].append(ndcg(found, grades))
                    scores[name][f"recall/{kind}"].append(recall(found, grades))
    finally:
        encoder.close()
        await database.dispose()
    return {
        name: {metric: sum(v) / len(v) for metric, v in metrics.items()}
        for name, metrics in scores.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="another corpus (eval/search_dev.json: the one parameters are tuned on)",
    )
    args = parser.parse_args()
    corpus = json.loads(args.corpus.read_text())
    kinds = sorted({q["kind"] for q in corpus["queries"]})
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'eval.db'}"
        result = asyncio.run(run(url, corpus))
    print(
        f"{len(corpus['queries'])} queries ({', '.join(kinds)}), {INTERVIEWS} interviews, "
        f"{sum(len(v) for v in corpus['answers'].values()) + len(corpus['filler'])} answers"
    )
    header = f"{'':12}" + "".join(
        f"{f'nDCG@10 {k}':>22}{f'recall@10 {k}':>22}" for k in ["all", *kinds]
    )
    print(header)
    for name in ("bm25", "embeddings", "hybrid"):
        row = f"{name:12}"
        for kind in ["all", *kinds]:
            row += f"{result[name][f'ndcg/{kind}']:>22.3f}{result[name][f'recall/{kind}']:>22.3f}"
        print(row)
    hybrid = result["hybrid"]["ndcg/all"]
    failures = []
    if hybrid < TARGET_NDCG:
        failures.append(f"hybrid nDCG@10 {hybrid:.3f} < {TARGET_NDCG}")
    for alone in ("bm25", "embeddings"):
        if hybrid < result[alone]["ndcg/all"] + TARGET_MARGIN:
            failures.append(f"hybrid not {TARGET_MARGIN} above {alone}")
    paraphrased = result["hybrid"].get("recall/paraphrased", 0.0)
    if paraphrased < TARGET_PARAPHRASE_RECALL:
        failures.append(f"paraphrased recall@10 {paraphrased:.3f} < {TARGET_PARAPHRASE_RECALL}")
    print("targets: " + ("met" if not failures else "MISSED: " + "; ".join(failures)))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
