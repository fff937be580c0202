"""A study report for people: a terminal table, and a self-contained HTML
page (inline SVG charts, no script, no external resource): one chart per
structured question (a histogram for a scale, bars for choices and yes/no,
mean place for a ranking) above the themes' bar chart."""

from __future__ import annotations

import html
from typing import Any

from rich.console import Console
from rich.table import Table

from koji_server.domain.model import InsightType, QuestionAggregate, QuestionType, StudyReport

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
    data["questions"] = [question_json(q) for q in report.questions]
    return data


def question_json(aggregate: QuestionAggregate) -> dict[str, Any]:
    """One question's aggregate as GetStudyReport prints it (absent values
    left out)."""
    data: dict[str, Any] = {
        "question_id": aggregate.question_id,
        "text": aggregate.text,
        "type": aggregate.type.value,
        "responses": aggregate.responses,
        "skipped": aggregate.skipped,
    }
    if aggregate.mean is not None:
        data["mean"] = aggregate.mean
    if aggregate.median is not None:
        data["median"] = aggregate.median
    data["distribution"] = {str(k): v for k, v in aggregate.distribution.items()}
    data["options"] = []
    for option in aggregate.options:
        shown: dict[str, Any] = {
            "option_id": option.option_id,
            "label": option.label,
            "count": option.count,
            "share": option.share,
        }
        if option.mean_rank is not None:
            shown["mean_rank"] = option.mean_rank
        data["options"].append(shown)
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
    for aggregate in report.questions:
        console.print(f"{aggregate.text}  [{aggregate.type.value}]  {_summary(aggregate)}")


def _summary(aggregate: QuestionAggregate) -> str:
    counted = f"{aggregate.responses} responses, {aggregate.skipped} skipped"
    if aggregate.type is QuestionType.SCALE and aggregate.mean is not None:
        return f"{counted}; mean {aggregate.mean:.1f}, median {aggregate.median:g}"
    if aggregate.type is QuestionType.RANKING:
        ranks = ", ".join(
            f"{o.label} {o.mean_rank:.1f}" for o in aggregate.options if o.mean_rank is not None
        )
        return f"{counted}; mean place: {ranks}"
    shares = ", ".join(f"{o.label} {o.share:.0%}" for o in aggregate.options)
    return f"{counted}; {shares}"


CHART_COLOUR = "#5b6abf"


def _bars(rows: list[tuple[str, float, str]], scale: float, caption: str) -> str:
    """Horizontal bars: (label, value, text shown after the bar), the
    longest bar being `scale`."""
    height = ROW_HEIGHT * max(1, len(rows)) + 10
    width = LABEL_WIDTH + BAR_WIDTH + 90
    drawn = []
    for index, (label, value, text) in enumerate(rows):
        y = 5 + index * ROW_HEIGHT
        bar = max(1.0, value / scale * BAR_WIDTH) if scale else 1.0
        drawn.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 17}" text-anchor="end">'
            f"{html.escape(label)}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{bar:.1f}" height="{ROW_HEIGHT - 8}" '
            f'fill="{CHART_COLOUR}"><title>{html.escape(text)}</title></rect>'
            f'<text x="{LABEL_WIDTH + bar + 6:.1f}" y="{y + 17}">{html.escape(text)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(caption)}" '
        f'font-family="sans-serif" font-size="13">{"".join(drawn)}</svg>'
    )


def _histogram(aggregate: QuestionAggregate, low: int, high: int) -> str:
    """One column per point of the scale."""
    column, chart_height = 30, 120
    most = max(aggregate.distribution.values(), default=0)
    points = range(low, high + 1)
    drawn = []
    for index, point in enumerate(points):
        count = aggregate.distribution.get(point, 0)
        bar = count / most * chart_height if most else 0.0
        x = 10 + index * column
        drawn.append(
            f'<rect x="{x}" y="{10 + chart_height - bar:.1f}" width="{column - 6}" '
            f'height="{bar:.1f}" fill="{CHART_COLOUR}"><title>{point}: {count}</title></rect>'
            f'<text x="{x + (column - 6) / 2:.1f}" y="{chart_height + 26}" '
            f'text-anchor="middle">{point}</text>'
            f'<text x="{x + (column - 6) / 2:.1f}" y="{10 + chart_height - bar - 3:.1f}" '
            f'text-anchor="middle" font-size="11">{count or ""}</text>'
        )
    width = 20 + column * len(points)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{chart_height + 34}" '
        f'role="img" aria-label="Responses by value" '
        f'font-family="sans-serif" font-size="13">{"".join(drawn)}</svg>'
    )


def question_chart(aggregate: QuestionAggregate) -> str:
    """The question's chart (inline SVG)."""
    if aggregate.type is QuestionType.SCALE:
        values = list(aggregate.distribution)
        low, high = (min(values), max(values)) if values else (0, 0)
        return _histogram(aggregate, low, high)
    if aggregate.type is QuestionType.RANKING:
        ranked = sorted(
            (o for o in aggregate.options if o.mean_rank is not None), key=lambda o: o.mean_rank
        )
        places = len(aggregate.options)
        # Longer bars for better places: first place draws the full bar.
        rows = [
            (o.label, places + 1 - (o.mean_rank or 0), f"mean place {o.mean_rank:.1f}")
            for o in ranked
        ]
        return _bars(rows, float(places), "Options by mean place")
    rows = [(o.label, o.share, f"{o.share:.0%} ({o.count})") for o in aggregate.options]
    return _bars(rows, 1.0, "Options by share of responses")


def _question_sections(report: StudyReport, scales: dict[str, tuple[int, int]]) -> str:
    sections = []
    for aggregate in report.questions:
        chart = question_chart(aggregate)
        if aggregate.type is QuestionType.SCALE and aggregate.question_id in scales:
            chart = _histogram(aggregate, *scales[aggregate.question_id])
        sections.append(
            f"<section><h2>{html.escape(aggregate.text)}</h2>"
            f"<p>{html.escape(aggregate.type.value)}: {html.escape(_summary(aggregate))}</p>"
            f"{chart}</section>"
        )
    return "".join(sections)


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


def html_page(
    report: StudyReport, title: str, scales: dict[str, tuple[int, int]] | None = None
) -> str:
    """The page; `scales`: each scale question's bounds, by id (else the
    histogram spans the values given)."""
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
        f"{_question_sections(report, scales or {})}"
        f"<h2>Themes by share of interviews</h2>{_bar_chart(report)}{LEGEND}"
        f"{''.join(sections)}</body></html>\n"
    )
