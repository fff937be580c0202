"""Build the client wheel `koji-interviews-client` (client/pyproject.toml) from
gen/ and proto/ as they are: `make client`, and tests/test_client_wheel.py.

The build backend (hatchling) comes from the dev dependencies, so the build
needs no isolated environment; the wheel's path is printed on stdout.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "client"


def build(out: Path) -> Path:
    """Build the wheel into `out` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-build-isolation",
                "--no-deps",
                "--wheel-dir",
                scratch,
                str(CLIENT),
            ],
            check=True,
        )
        (built,) = Path(scratch).glob("koji_interviews_client-*.whl")
        wheel = out / built.name
        wheel.write_bytes(built.read_bytes())
    return wheel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the wheel")
    print(build(parser.parse_args().out))


if __name__ == "__main__":
    main()
