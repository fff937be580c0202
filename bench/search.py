"""SearchInterviews on 100,000 respondent messages, through REST (Envoy).

Seeds a scratch database (SQLite, or a throwaway PostgreSQL with --db
postgres; --db all for both) with one project of 2,000 analysed interviews
of 50 respondent messages each, written from topic sentences with varied
details; indexes them with the real indexer (storage.search_index: the
analysis's encoder, search_entries; the full-text index follows the
messages by itself). Starts koji-server (pipeline off) and Envoy pinned as
`make bench` does, warms up (the first search loads the project's vectors
and spawns the query encoder), then sends each query of QUERIES --rounds
times, one at a time, and prints the row: calls, p50 and p95 milliseconds
(first round: every query vector computed; later rounds: cached).

`--stores` instead measures the vector stores compared for search by
meaning over the same 100,000 vectors: numpy over an in-memory matrix,
sqlite-vec (vec0 KNN, through apsw: Python's sqlite3 here cannot load
extensions) and PostgreSQL float4[] arrays (cosine in SQL); it needs
`pip install sqlite-vec apsw`, which the project does not depend on.

    .venv/bin/python -m bench.search [--db sqlite|postgres|all] [--rounds 4]
    .venv/bin/python -m bench.search --stores
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text

from bench.analysis_latency import percentile
from bench.load import pinned_stack
from koji_server.domain.model import Permission
from koji_server.operations.projects import AdminService
from koji_server.storage import migrate
from koji_server.storage.backends import open_database, sync_engines
from koji_server.storage.unit_of_work import UnitOfWorkFactory

INTERVIEWS = 2_000
PER_INTERVIEW = 50
SUBJECTS = [
    "the CSV importer", "the billing page", "the mobile app", "the support chat",
    "the dashboard", "the Salesforce sync", "the setup wizard", "the search box",
    "the calendar view", "the PDF export", "the login page", "the notification emails",
]  # fmt: skip
PROBLEMS = [
    "drops rows", "is too expensive", "crashes on my phone", "takes days to answer",
    "shows wrong numbers", "duplicates contacts", "confuses new hires", "is really slow",
    "misses recurring meetings", "cuts off the charts", "locks me out", "arrives too late",
]  # fmt: skip
DETAILS = [
    "every Monday", "when the team is online", "since the last update", "for our finance team",
    "in the field", "with big files", "on the train", "before a deadline",
]  # fmt: skip
QUERIES = [
    "importer drops rows", "trouble uploading spreadsheets", "too expensive", "costly plans",
    "app crashes", "phone application unstable", "support slow", "nobody answers tickets",
    "dashboard numbers wrong", "salesforce duplicates", "hard to get started", "slow search",
    '"recurring meetings"', "pdf export -calendar", "locked out of my account",
    "late email alerts", "billing", "sync problems with crm", "charts cut off",
    "finance team invoices",
]  # fmt: skip


def sentence(rng: random.Random) -> str:
    n = rng.randrange(len(SUBJECTS))
    other = PROBLEMS[rng.randrange(len(PROBLEMS))] if rng.random() < 0.2 else PROBLEMS[n]
    return f"Honestly {SUBJECTS[n]} {other} {rng.choice(DETAILS)}, {rng.randrange(1000)} times."


async def seed(database_url: str, interviews: int = INTERVIEWS) -> str:
    """The project's API key, once everything is indexed."""
    from koji_server.storage import search_index

    await migrate.upgrade(database_url)
    database = open_database(database_url)
    admin = AdminService(UnitOfWorkFactory(database))
    project = await admin.create_project("bench")
    key = await admin.create_key(project, "bench", frozenset(Permission), 1_000_000)
    study = await admin.create_study(project, "bench", ["Why?"])
    await database.dispose()
    rng = random.Random(7)
    start = datetime(2026, 1, 1)
    engine = sync_engines(database_url)[1]
    with engine.begin() as c:
        for n in range(interviews):
            at = start + timedelta(minutes=n)
            interview = str(uuid.uuid4())
            c.execute(
                text(
                    "INSERT INTO interviews (id, project_id, study_id, session_token_hash,"
                    " status, mode, locale, respondent_external_id, respondent_display_name,"
                    " respondent_metadata, question_index, follow_up_asked,"
                    " respondent_messages, interviewer_messages, started_at, completed_at,"
                    " analysis_status, updated_at) VALUES (:i, :p, :s, 'h', 'completed', 'text',"
                    " 'en', '', '', :m, 0, false, :r, 0, :t, :t, 'completed', :t)"
                ),
                {"i": interview, "p": project, "s": study, "r": PER_INTERVIEW,
                 "m": json.dumps({"plan": "pro" if n % 2 else "free"}), "t": at},
            )  # fmt: skip
            c.execute(
                text("INSERT INTO analyses VALUES (:i, 4.0, '{}', true, '[]', '[]', '{}', '', :t)"),
                {"i": interview, "t": at},
            )
            c.execute(
                text(
                    "INSERT INTO messages (id, interview_id, seq, role, content, created_at)"
                    " VALUES (:id, :i, :seq, 'respondent', :content, :t)"
                ),
                [
                    {"id": str(uuid.uuid4()), "i": interview, "seq": m,
                     "content": sentence(rng), "t": at + timedelta(seconds=m)}
                    for m in range(PER_INTERVIEW)
                ],
            )  # fmt: skip
        search_index.backfill(c)
    engine.dispose()
    return key.api_key


def measure(base_url: str, key: str, rounds: int, interviews: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    first: list[float] = []
    every: list[float] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(3):  # warm up: the vector cache and the encoder process
            client.get("/api/v1/search", params={"q": "warm up"}, headers=headers)
        for round_number in range(rounds):
            for q in QUERIES:
                began = time.perf_counter()
                response = client.get("/api/v1/search", params={"q": q}, headers=headers)
                ms = (time.perf_counter() - began) * 1000
                assert response.status_code == 200, response.text
                assert response.json()["results"], q
                every.append(ms)
                if round_number == 0:
                    first.append(ms)
    return {
        "rpc": "SearchInterviews",
        "transport": "rest",
        "messages": interviews * PER_INTERVIEW,
        "calls": len(every),
        "p50_ms": round(percentile(every, 0.5), 2),
        "p95_ms": round(percentile(every, 0.95), 2),
        "first_round_p95_ms": round(percentile(first, 0.95), 2),
    }


def run_engine(engine: str, rounds: int, interviews: int = INTERVIEWS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        postgres = None
        if engine == "postgres":
            from tools.local_postgres import ThrowawayPostgres

            postgres = ThrowawayPostgres(durable=True)
            url = postgres.create_database("bench_search")
        else:
            url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        try:
            began = time.perf_counter()
            key = asyncio.run(seed(url, interviews))
            seeded = time.perf_counter() - began
            with pinned_stack(work, url, KOJI_PIPELINE_ENABLED="false") as stack:
                row = measure(f"http://127.0.0.1:{stack.rest_port}", key, rounds, interviews)
        finally:
            if postgres is not None:
                postgres.stop()
    return {"engine": engine, **row, "seed_and_index_s": round(seeded, 1)}


def stores() -> None:
    """Top-100 by cosine over 100,000 vectors of 256 dimensions, per store."""
    import apsw
    import sqlite_vec

    n, dims, k, tries = INTERVIEWS * PER_INTERVIEW, 256, 100, 20
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((n, dims)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    queries = [matrix[i] + 0.1 for i in range(tries)]

    def timed(search: Any) -> float:
        search(queries[0])
        spent = []
        for q in queries:
            began = time.perf_counter()
            search(q)
            spent.append((time.perf_counter() - began) * 1000)
        return percentile(spent, 0.5)

    def numpy_top(q: np.ndarray) -> list[int]:
        scores = matrix @ q
        best = np.argpartition(-scores, k)[:k]
        return list(best[np.argsort(-scores[best])])

    print(f"{n} vectors x {dims}, top {k}, median of {tries} queries (noisy shared machine)")
    print(f"numpy (in-memory matrix): {timed(numpy_top):.2f} ms")
    db = apsw.Connection(":memory:")
    db.enable_load_extension(True)
    db.load_extension(sqlite_vec.loadable_path())
    db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{dims}] distance_metric=cosine)")
    with db:
        db.executemany(
            "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
            ((i, matrix[i].tobytes()) for i in range(n)),
        )

    def vec_top(q: np.ndarray) -> list[int]:
        sql = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ?"
        return [r[0] for r in db.execute(sql, (q.astype(np.float32).tobytes(), k))]

    print(f"sqlite-vec {sqlite_vec.__version__} (vec0 KNN, brute force): {timed(vec_top):.2f} ms")
    from tools.local_postgres import ThrowawayPostgres

    postgres = ThrowawayPostgres()
    try:
        url = postgres.create_database("bench_vectors")
        from koji_server.storage.postgres import sync_engine

        engine = sync_engine(url)
        with engine.begin() as c:
            c.execute(text("CREATE TABLE v (id integer PRIMARY KEY, embedding float4[])"))
            c.execute(
                text("INSERT INTO v VALUES (:id, :e)"),
                [{"id": i, "e": matrix[i].tolist()} for i in range(n)],
            )
            c.execute(text("ANALYZE v"))

        def pg_top(q: np.ndarray) -> list[int]:
            with engine.connect() as c:
                return list(
                    c.execute(
                        text(
                            "SELECT id FROM v ORDER BY (SELECT sum(a * b) FROM"
                            " unnest(embedding, CAST(:q AS float4[])) AS x(a, b)) DESC LIMIT :k"
                        ),
                        {"q": q.tolist(), "k": k},
                    ).scalars()
                )

        print(f"PostgreSQL float4[] (cosine in SQL): {timed(pg_top):.2f} ms")
        engine.dispose()
    finally:
        postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "all"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--interviews", type=int, default=INTERVIEWS, help=f"of {PER_INTERVIEW} messages each"
    )
    parser.add_argument("--stores", action="store_true", help="compare the vector stores")
    args = parser.parse_args()
    if args.stores:
        stores()
        return
    engines = ["sqlite", "postgres"] if args.db == "all" else [args.db]
    for engine in engines:
        print(json.dumps(run_engine(engine, args.rounds, args.interviews)))


if __name__ == "__main__":
    main()
