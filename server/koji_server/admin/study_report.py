"""A study report for people: a terminal table, and a self-contained HTML
page (inline SVG bar chart, no script, no external resource)."""

from __future__ import annotations

import html
from typing import Any

from rich.console import Console
from rich.table import Table

from koji_server.domain.model import InsightType, StudyReport

BAR_WIDTH = 360
ROW_HEIGHT = 26
LABEL_WIDTH = 220
# A bar takes the colour of the theme's most frequent kind of insight.
COLOURS = {
    InsightType.PAIN_POINT.value: "#c0392b",
    InsightType.REQUEST.value: "#2e86c1",
    InsightType.PRAISE.value: "#27ae60",
}
LEGEND = (
    '<p><span style="color:#c0392b">&#9632;</span> mostly pain points '
    '<span style="color:#2e86c1">&#9632;</span> mostly requests '
    '<span style="color:#27ae60">&#9632;</span> mostly praise</p>'
)


def as_json(report: StudyReport) -> dict[str, Any]:
    """The API's JSON shape (snake_case, as GetStudyReport prints it)."""
    data: dict[str, Any] = {
        "study_id": report.study_id,
        "interviews_analyzed": report.interviews_analyzed,
        "interviews_excluded": report.interviews_excluded,
    }
    if report.updated_at is not None:
        data["updated_at"] = report.updated_at.isoformat().replace("+00:00", "Z")
    data["themes"] = [
        {
            "theme_id": t.theme_id,
            "label": t.label,
            "interview_count": t.interview_count,
            "share": t.share,
            "sentiment": t.sentiment,
            "insight_counts": t.insight_counts,
            "quotes": [
                {
                    "interview_id": q.interview_id,
                    "message_id": q.message_id,
                    "quote": q.quote,
                    "type": q.type,
                }
                for q in t.quotes
            ],
        }
        for t in report.themes
    ]
    return data


def print_table(report: StudyReport, console: Console) -> None:
    table = Table(
        title=f"Study {report.study_id}: {report.interviews_analyzed} interviews analysed, "
        f"{report.interviews_excluded} excluded by the quality gate",
        title_justify="left",
    )
    table.add_column("theme")
    table.add_column("interviews", justify="right")
    table.add_column("share", justify="right")
    table.add_column("sentiment", justify="right")
    table.add_column("quote")
    for theme in report.themes:
        quote = theme.quotes[0].quote if theme.quotes else ""
        table.add_row(
            theme.label,
            str(theme.interview_count),
            f"{theme.share:.0%}",
            f"{theme.sentiment:+.2f}",
            f"\u201c{quote}\u201d" if quote else "",
        )
    if not report.themes:
        table.add_row("(no themes yet)", "0", "-", "-", "")
    console.print(table)


def _bar_chart(report: StudyReport) -> str:
    height = ROW_HEIGHT * max(1, len(report.themes)) + 10
    width = LABEL_WIDTH + BAR_WIDTH + 60
    rows = []
    for index, theme in enumerate(report.themes):
        y = 5 + index * ROW_HEIGHT
        bar = max(1.0, theme.share * BAR_WIDTH)
        counts = theme.insight_counts
        colour = COLOURS[max(COLOURS, key=lambda kind: (counts.get(kind, 0), kind))]
        rows.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 17}" text-anchor="end">'
            f"{html.escape(theme.label)}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{bar:.1f}" height="{ROW_HEIGHT - 8}" '
            f'fill="{colour}"><title>{theme.interview_count} interviews</title></rect>'
            f'<text x="{LABEL_WIDTH + bar + 6:.1f}" y="{y + 17}">{theme.share:.0%}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Themes by share of interviews" '
        f'font-family="sans-serif" font-size="13">{"".join(rows)}</svg>'
    )


def html_page(report: StudyReport, title: str) -> str:
    sections = []
    for theme in report.themes:
        counts = theme.insight_counts
        quotes = "".join(
            f"<li><q>{html.escape(q.quote)}</q> <small>({html.escape(q.type)}, interview "
            f"{html.escape(q.interview_id[:8])})</small></li>"
            for q in theme.quotes
        )
        sections.append(
            f"<section><h2>{html.escape(theme.label)}</h2>"
            f"<p>{theme.interview_count} of {report.interviews_analyzed} interviews "
            f"({theme.share:.0%}); sentiment {theme.sentiment:+.2f}; "
            f"{counts.get('pain_point', 0)} pain points, {counts.get('request', 0)} requests, "
            f"{counts.get('praise', 0)} praise</p><ul>{quotes}</ul></section>"
        )
    updated = report.updated_at.isoformat() if report.updated_at else "never"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
        "color:#222}h2{font-size:1.1rem;margin-bottom:.2rem}q{font-style:italic}"
        "section{border-top:1px solid #ddd;padding:.5rem 0}small{color:#666}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>"
        f"<p>{report.interviews_analyzed} interviews analysed, "
        f"{report.interviews_excluded} excluded by the quality gate; updated {updated}.</p>"
        f"<h2>Themes by share of interviews</h2>{_bar_chart(report)}{LEGEND}"
        f"{''.join(sections)}</body></html>\n"
    )
