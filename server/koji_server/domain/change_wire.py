"""Published changes as text, to carry them between processes (a relay such
as storage.change_relay) and back.

A change is small but for an analysis, which can outgrow what a relay may
carry (PostgreSQL's NOTIFY takes under 8,000 bytes): `AnalysisReady` travels
as a reference and the receiving side reads the stored analysis (the
`Incoming.analysis_of` it names) before delivering it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from koji_server.domain.changes import (
    AnalysisReady,
    AnalysisStatusChanged,
    Change,
    Completed,
    MessageAdded,
    QualityScored,
)
from koji_server.domain.model import (
    AnalysisStatus,
    CompletionSummary,
    InterviewStatus,
    Role,
    Stats,
)


class Unrelayable(ValueError):
    """A change of a kind that is never published (state, heartbeat...)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """Changes another process published, in order; None stands where the
    interview's analysis became ready (read it, then deliver AnalysisReady)."""

    origin: str
    interview_id: str
    at: datetime
    changes: tuple[Change | None, ...]


def encode(origin: str, interview_id: str, at: datetime, changes: tuple[Change, ...]) -> str:
    return json.dumps(
        {"o": origin, "i": interview_id, "at": at.isoformat(), "c": [_encode(c) for c in changes]},
        separators=(",", ":"),
    )


def decode(text: str) -> Incoming:
    """Raises ValueError (or KeyError/TypeError) on text this module did not write."""
    data = json.loads(text)
    return Incoming(
        origin=str(data["o"]),
        interview_id=str(data["i"]),
        at=datetime.fromisoformat(data["at"]),
        changes=tuple(_decode(c) for c in data["c"]),
    )


def _stats(stats: Stats) -> list[int]:
    return [stats.duration_seconds, stats.respondent_messages, stats.interviewer_messages]


def _encode(change: Change) -> dict[str, Any]:
    match change:
        case MessageAdded():
            return {
                "t": "message_added",
                "id": change.message_id,
                "role": change.role.value,
                "n": change.messages_count,
                "status": change.interview_status.value,
            }
        case Completed(summary=s):
            return {
                "t": "completed",
                "id": s.interview_id,
                "at": s.completed_at.isoformat(),
                "analysis": s.analysis_status.value,
                "stats": _stats(s.stats),
                "status": s.status.value,
            }
        case AnalysisStatusChanged():
            return {"t": "analysis_status", "status": change.status.value}
        case QualityScored():
            return {"t": "quality_scored", "score": change.quality_score,
                    "counts": change.counts_toward_usage}  # fmt: skip
        case AnalysisReady():
            return {"t": "analysis_ready"}
    raise Unrelayable(type(change).__name__)


def _decode(data: dict[str, Any]) -> Change | None:
    kind = data["t"]
    if kind == "message_added":
        return MessageAdded(
            str(data["id"]), Role(data["role"]), int(data["n"]), InterviewStatus(data["status"])
        )
    if kind == "completed":
        duration, respondent, interviewer = (int(n) for n in data["stats"])
        return Completed(
            CompletionSummary(
                interview_id=str(data["id"]),
                completed_at=datetime.fromisoformat(data["at"]),
                analysis_status=AnalysisStatus(data["analysis"]),
                stats=Stats(duration, respondent, interviewer),
                status=InterviewStatus(data["status"]),
            )
        )
    if kind == "analysis_status":
        return AnalysisStatusChanged(AnalysisStatus(data["status"]))
    if kind == "quality_scored":
        return QualityScored(float(data["score"]), bool(data["counts"]))
    if kind == "analysis_ready":
        return None
    raise ValueError(f"unknown change {kind!r}")
