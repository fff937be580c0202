"""One list of insight types (domain.model.InsightType): the analysis, the
study report and the API's InsightCounts all follow it."""

from __future__ import annotations

from koji.v1 import study_service_pb2 as study_pb
from koji_server.admin import study_report
from koji_server.analysis import classifier, phrases, study
from koji_server.domain.model import InsightType

TYPES = {kind.value for kind in InsightType}


def test_the_api_counts_each_type() -> None:
    assert {f.name for f in study_pb.InsightCounts.DESCRIPTOR.fields} == TYPES


def test_the_analysis_knows_each_type() -> None:
    assert set(classifier.LABELS) == {"none", *TYPES}
    assert set(study.INSIGHT_TYPES) == TYPES
    assert set(phrases.KIND_NAMES) == TYPES


def test_the_printed_report_colours_each_type() -> None:
    assert set(study_report.COLOURS) == TYPES
