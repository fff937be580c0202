"""The webhook event types the pipeline emits."""

from __future__ import annotations

EVENT_QUALITY_SCORED = "interview.quality_scored"  # every analysed interview
EVENT_COMPLETED = "interview.completed"  # analysed and passed the quality gate
EVENT_FAILED_GATE = "interview.failed_quality_gate"
EVENT_ANALYSIS_READY = "interview.analysis_ready"
EVENT_TYPES = (EVENT_QUALITY_SCORED, EVENT_COMPLETED, EVENT_FAILED_GATE, EVENT_ANALYSIS_READY)
