"""`buf breaking` of proto/ (the work tree, uncommitted edits included) against
the protos of a baseline commit, with the FILE rules of buf.yaml. Run by
`make breaking`, part of `make test`.

Both sides are compiled by protoc (tools/gen.py) into descriptor sets, so the
googleapis imports come from the googleapis-common-protos package: no buf
module, cache or network is involved.

The baseline ("the last commit of main"), unless `--against REF` names one:
- the main line is `origin/main` if that ref exists, else the branch `main`;
- on a branch that left it, the merge-base of HEAD and the main line: what
  main was when the branch started, so that only the branch's own changes are
  judged (main's later additions do not read as deletions);
- on the main line itself (HEAD is it, or behind it), HEAD's first parent:
  main before its last commit or merge. That is CI's case, a clean clone of
  the submitted main; a submission of several fast-forwarded commits is only
  judged on its last one (a merge commit covers the whole branch).
With no main ref, no shared history, no parent (a first commit or a shallow
clone) or no protos at the baseline, nothing can be compared: the check says
SKIPPED, and why, and exits 0.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Run as a script: its folder, tools/, is on sys.path.
import gen

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "buf.yaml"
BUF = Path(sys.executable).parent / "buf"
MAIN_REFS = ("origin/main", "main")
PROTO_DIR = "proto"


@dataclass(frozen=True)
class Baseline:
    """The commit to compare against (None: nothing to compare) and why."""

    commit: str | None
    why: str


def git(repo: Path, *args: str) -> str | None:
    """Stdout of a git command in `repo`, or None if it fails."""
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def commit_of(repo: Path, ref: str) -> str | None:
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def find_baseline(repo: Path, against: str | None = None) -> Baseline:
    """The baseline commit: see the module docstring."""
    if against is not None:
        commit = commit_of(repo, against)
        if commit is None:
            sys.exit(f"buf breaking: --against {against} is not a commit")
        return Baseline(commit, f"--against {against}")
    head = commit_of(repo, "HEAD")
    if head is None:
        return Baseline(None, "no commit checked out here")
    main_ref = next((ref for ref in MAIN_REFS if commit_of(repo, ref) is not None), None)
    if main_ref is None:
        return Baseline(None, f"no {' or '.join(MAIN_REFS)} ref in this clone")
    base = git(repo, "merge-base", "HEAD", main_ref)
    if base is None:
        return Baseline(None, f"HEAD shares no history with {main_ref}")
    if base != head:
        return Baseline(base, f"merge-base of HEAD and {main_ref}, where this branch left it")
    parent = commit_of(repo, "HEAD^1")
    if parent is None:
        return Baseline(None, f"HEAD is on {main_ref} and has no parent commit (shallow clone?)")
    return Baseline(parent, f"HEAD is on {main_ref}: its first parent, main before its last change")


def export_protos(repo: Path, commit: str, into: Path) -> int:
    """Write the commit's proto/**/*.proto under `into`; return how many."""
    listing = git(repo, "ls-tree", "-r", "--name-only", commit, "--", PROTO_DIR) or ""
    names = [name for name in listing.splitlines() if name.endswith(".proto")]
    for name in names:
        content = subprocess.run(
            ["git", "-C", str(repo), "show", f"{commit}:{name}"], capture_output=True, check=True
        ).stdout
        target = into / Path(name).relative_to(PROTO_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return len(names)


def breaking(proto_root: Path, repo: Path, baseline: Baseline) -> int:
    """Run buf breaking; the exit status is buf's (0: no breaking change)."""
    if baseline.commit is None:
        print(f"buf breaking: SKIPPED, nothing compared: {baseline.why}")
        return 0
    print(f"buf breaking: {proto_root} against {baseline.commit[:12]} ({baseline.why})")
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        if export_protos(repo, baseline.commit, scratch / "against") == 0:
            print(f"buf breaking: SKIPPED, nothing compared: no {PROTO_DIR}/ at the baseline")
            return 0
        gen.source_descriptor_set(scratch / "current.binpb", proto_root)
        gen.source_descriptor_set(scratch / "against.binpb", scratch / "against")
        result = subprocess.run(
            [
                str(BUF),
                "breaking",
                str(scratch / "current.binpb"),
                "--against",
                str(scratch / "against.binpb"),
                "--config",
                str(CONFIG),
                "--path",
                "koji",
            ]
        )
    print("buf breaking: " + ("no breaking change" if result.returncode == 0 else "BREAKING"))
    return result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--proto", type=Path, default=ROOT / PROTO_DIR, help="protos to check")
    parser.add_argument("--against", help="a git ref to compare against (default: see above)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the git repository")
    parser.add_argument(
        "--baseline-only", action="store_true", help="print the baseline and compare nothing"
    )
    args = parser.parse_args()
    baseline = find_baseline(args.repo, args.against)
    if args.baseline_only:
        print(f"{baseline.commit or '-'} {baseline.why}")
        return
    sys.exit(breaking(args.proto.resolve(), args.repo, baseline))


if __name__ == "__main__":
    main()
