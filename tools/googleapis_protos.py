"""Copy the googleapis .proto files our protos import (google/api, and
google/rpc for the error details) out of the installed googleapis-common-protos
package into a folder that buf.yaml declares as a module: `buf generate` then
resolves every import offline, with no BSR dependency.

Needs only googleapis-common-protos (`pip install googleapis-common-protos`),
so a client repository holding a checkout of this one can run it too:
`python path/to/koji/tools/googleapis_protos.py` (default output:
build/googleapis beside this repository's buf.yaml).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import google.api

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "googleapis"
PACKAGES = ("google/api", "google/rpc")


def copy_protos(out: Path) -> list[Path]:
    """Replace `out` with the packages' .proto files; return the copies."""
    site = Path(google.api.__path__[0]).parent.parent
    if out.exists():
        shutil.rmtree(out)
    copies: list[Path] = []
    for package in PACKAGES:
        for source in sorted((site / package).glob("*.proto")):
            target = out / package / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copies.append(target)
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=DEFAULT_OUT)
    out = parser.parse_args().out
    print(f"{len(copy_protos(out))} googleapis .proto files in {out}")


if __name__ == "__main__":
    main()
