"""Several koji-server replicas on one PostgreSQL database, with Envoy in
front of them all (one health-checked, round-robin cluster)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx

from tests.envoy_process import EnvoyProcess
from tests.processes import free_port, launch_server, stop


class Replicas:
    def __init__(self, database_url: str, count: int, workdir: Path, **settings: str) -> None:
        self.database_url = database_url
        self.ports = [free_port() for _ in range(count)]
        self.logs = [workdir / f"replica-{i}.log" for i in range(count)]
        self.processes: list[subprocess.Popen[str]] = []
        self.envoy: EnvoyProcess | None = None
        try:
            for port, log in zip(self.ports, self.logs, strict=True):
                self.processes.append(launch_server(database_url, port, log, **settings))
            self.envoy = EnvoyProcess(self.ports[0], workdir, more_grpc_ports=tuple(self.ports[1:]))
            self.envoy.wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def rest(self) -> str:
        assert self.envoy is not None
        return self.envoy.base_url

    def address(self, index: int) -> str:
        return f"127.0.0.1:{self.ports[index]}"

    def kill(self, index: int) -> None:
        """kill -9: no shutdown, connections cut."""
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait(timeout=10)

    def requests_by_replica(self) -> dict[int, int]:
        """Requests Envoy sent to each replica's port (its /clusters counters)."""
        assert self.envoy is not None
        admin = f"http://127.0.0.1:{self.envoy.settings.admin_port}/clusters"
        counts: dict[int, int] = {}
        for line in httpx.get(admin, timeout=5).text.splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[0] == "koji_grpc" and parts[2] == "rq_total":
                counts[int(parts[1].rpartition(":")[2])] = int(parts[3])
        return counts

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        for process in self.processes:
            if process.poll() is None:
                stop(process)
            process.communicate(timeout=30)
