"""The benchmark scripts still run (tiny sizes): a benchmark that rots is noticed here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parent.parent


def test_pipeline_latency_bench_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.analysis_latency", "--interviews", "4", "--rate", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "analysis latency" in result.stdout
    assert "webhook latency, analysis stored -> receiver (12 events)" in result.stdout


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) not installed")
def test_load_bench_runs(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.load", "--seconds", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "GetInterview       rest" in result.stdout
    assert "WARNING" not in result.stdout


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) not installed")
def test_load_bench_runs_on_postgres_with_two_replicas() -> None:
    """make bench DB=postgres REPLICAS=2: a throwaway PostgreSQL, two replicas."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.load", "--db", "postgres", "--replicas", "2",
         "--seconds", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "postgres x2  CompleteInterview  grpc" in result.stdout
    assert "WARNING" not in result.stdout


def test_ratelimit_bench_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.ratelimit", "--seconds", "0.3", "--hits", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PostgreSQL, UNLOGGED, sync_commit on, batched" in result.stdout
    assert "PostgreSQL limiters: 60 allowed (over-admission 0)" in result.stdout


def test_search_bench_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.search", "--interviews", "20", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"rpc": "SearchInterviews"' in result.stdout and '"messages": 1000' in result.stdout


def test_mcp_bench_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.mcp", "--seconds", "1", "--clients", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "koji_get_interview mcp" in result.stdout
    assert "GetInterview rest" in result.stdout
