"""A study written for the theme tests: twelve interviews around four topics.

Five respondents struggle with importing spreadsheets (worded five ways:
CSV importer, Excel upload, spreadsheet import...), three with per-seat
pricing, two with the mobile app, two with slow support. Each interview's
first answer is context with no insight in it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    # A theme names the topic if its label contains one of these (lowercase).
    label_words: tuple[str, ...]
    interviews: tuple[tuple[str, ...], ...]


IMPORT = Topic(
    "spreadsheet import",
    ("import", "csv", "spreadsheet", "excel", "upload", "file", "rows"),
    (
        (
            "A colleague on the finance team showed it to me during our quarterly planning.",
            "The CSV importer rejected our file three times because of the date format. "
            "The error never said which row was wrong.",
            "Show me exactly which rows failed in the import so I can fix them.",
            "Once the data was in, the rest of the setup was quick.",
        ),
        (
            "I found it through a search when we were replacing our old system.",
            "Uploading our Excel spreadsheet dropped about a third of the rows without any "
            "warning.",
            "We had to split the spreadsheet into small files and upload them one at a time.",
            "Let me preview the spreadsheet before the upload runs.",
        ),
        (
            "Our operations lead picked it after a trial last spring.",
            "Importing the spreadsheet of customer records took most of an afternoon.",
            "The import kept timing out on files with more than a few thousand rows.",
            "A spreadsheet import that resumes where it stopped would save us hours.",
        ),
        (
            "My manager asked me to evaluate it for the sales team.",
            "The CSV import mangled every name with an accent in it.",
            "I re-imported the same CSV file four times before the columns lined up.",
            "Support the CSV files our bank exports without any editing.",
        ),
        (
            "We saw a talk about it at a conference in March.",
            "The spreadsheet import silently skipped the rows with empty cells.",
            "We only noticed the missing rows a week later when the totals were off.",
            "Flag every skipped row in the import summary.",
        ),
    ),
)
PRICING = Topic(
    "per-seat pricing",
    ("pric", "seat", "plan", "cost", "licen", "bill"),
    (
        (
            "A friend who runs a design agency recommended it.",
            "The per-seat pricing gets expensive as soon as we add contractors.",
            "We pay for twenty seats but half of them log in once a month.",
            "A flat price for the whole team would make the budget conversation easy.",
        ),
        (
            "I read a comparison article that ranked it first.",
            "Paying per seat means we keep sharing one login between three people.",
            "Our seat costs doubled when we hired two more accountants.",
            "Offer cheaper seats for people who only read reports.",
        ),
        (
            "Our finance director chose it after looking at three vendors.",
            "The per-seat price was the hardest part to justify to our director.",
            "Every new hire means another seat on the invoice.",
            "A pricing plan for small nonprofits would help teams like ours.",
        ),
    ),
)
MOBILE = Topic(
    "mobile app",
    ("mobile", "phone", "app", "screen", "android", "iphone", "tablet"),
    (
        (
            "I started using it when our team moved to remote work.",
            "On my phone the mobile app cuts off the buttons at the bottom of the screen.",
            "The keyboard covers the text box in the mobile app on Android.",
            "Make the mobile app usable on small phone screens.",
        ),
        (
            "A client invited me to a shared workspace and I stayed.",
            "The mobile app logs me out every time I switch to another app on my phone.",
            "I cannot attach photos from my phone in the mobile app.",
            "Let me approve requests from the mobile app with one tap.",
        ),
    ),
)
SUPPORT = Topic(
    "support response",
    ("support", "ticket", "help", "reply", "response", "agent"),
    (
        (
            "Our previous vendor was bought and we needed a replacement.",
            "I waited four days for a reply from support about an urgent problem.",
            "The support agent closed my ticket before the problem was fixed.",
            "Give paying customers a support chat during business hours.",
        ),
        (
            "I heard about it on a podcast about small business tools.",
            "Support tickets sit unanswered for days when something breaks.",
            "Nobody from support replied to my email about the outage for a week.",
            "Answer support tickets within one business day.",
        ),
    ),
)
TOPICS = (IMPORT, PRICING, MOBILE, SUPPORT)
GUIDE = (
    "How did you first hear about us?",
    "What was the hardest part of getting started?",
    "What went wrong most recently?",
    "If you could change one thing, what would it be?",
)
