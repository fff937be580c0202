"""A throwaway PostgreSQL server, from Debian's binaries: the tests' and
`make run DB=postgres`'s (and the benchmarks').

The `postgresql` package (installed by `make install` when missing) puts the
server programs in /usr/lib/postgresql/<major>/bin, not on PATH: the newest
major there is used. The cluster lives in a fresh temporary directory (data,
log, socket) owned by the `postgres` user when running as root (initdb and
the server refuse to run as root; `runuser` drops to it), listens only on a
Unix socket in that directory (no TCP port to collide with anything) and is
removed when stopped. The tests' server trades durability for speed (fsync
off); a durable one (`durable=True`: PostgreSQL's defaults, every commit
flushed before it is acknowledged) is what `make run` and the benchmarks use,
the promise SQLite's default (synchronous=FULL) makes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file; nothing listens on TCP
SETTINGS = {
    "listen_addresses": "''",
    "max_connections": "200",
    "shared_buffers": "32MB",
}
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresUnavailable(RuntimeError):
    pass


def binaries() -> Path:
    """The newest Debian PostgreSQL's bin directory."""
    found = sorted(
        (path.parent for path in DEBIAN_BINARIES.glob("*/bin/initdb")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresUnavailable(
            f"no PostgreSQL server under {DEBIAN_BINARIES}/*/bin: run `make install` as root "
            "(apt-get install postgresql)"
        )
    return found[-1]


class ThrowawayPostgres:
    """initdb + pg_ctl start on construction; `stop()` removes everything."""

    def __init__(self, durable: bool = False) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="koji-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            owner = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
            )  # fmt: skip
            settings = SETTINGS if durable else {**SETTINGS, **FAST_SETTINGS}
            options = " ".join(f"-c {name}={value}" for name, value in settings.items())
            self._run(
                "pg_ctl", "start", "--wait", "--timeout=60", "-D", str(self.data),
                "-l", str(self.log), "-o", f"-k {self.root} -p {PORT} {options}",
            )  # fmt: skip
        except BaseException:
            self.stop()
            raise

    def url(self, database: str = "postgres") -> str:
        """asyncpg URL of `database`, over the Unix socket."""
        return f"postgresql+asyncpg://{SUPERUSER}@/{database}?host={self.root}&port={PORT}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with psql as the superuser; its output, unaligned."""
        return self._run(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.root),
            "-p", str(PORT), "-U", SUPERUSER, "-d", database, "-c", sql,
        )  # fmt: skip

    def create_database(self, name: str, template: str = "template0") -> str:
        """A new, empty database (or a copy of `template`); its URL."""
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "--wait", "-m", "immediate", "-D", str(self.data))
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> str:
        command = [str(self.bin / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.root, check=False
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log[-2000:]}"
            )
        return result.stdout
