"""Maintainer script: regenerate contribution.patch of the solution and of every mutant.

solution/ssekit/ gets the starter's unchanged upstream files first (solution/ is graded alone).

Each variant's ssekit/ files (the solution's, with a mutant's own files laid over them) are
committed on top of upstream v0.4.1 with the variant's message and author, then written out
with `git format-patch`, exactly as a learner makes theirs. Run after changing a variant:

    .venv/bin/python graders/oss-contribution/_build_patches.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _upstream import git, make_upstream, tree_files  # noqa: E402

LAB = Path(__file__).resolve().parents[2] / "labs" / "oss-contribution"
AUTHOR = {"GIT_AUTHOR_NAME": "Ada Contributor", "GIT_AUTHOR_EMAIL": "ada@contributor.example",
          "GIT_AUTHOR_DATE": "2026-11-20T09:30:00+00:00", "GIT_COMMITTER_NAME": "Ada Contributor",
          "GIT_COMMITTER_EMAIL": "ada@contributor.example", "GIT_COMMITTER_DATE": "2026-11-20T09:30:00+00:00"}
SIGN_OFF = "Signed-off-by: Ada Contributor <ada@contributor.example>"
GOOD_MESSAGE = f"""fix(decoder): keep partial lines across chunk boundaries

SSEDecoder.feed() decoded and split every chunk on its own, so a line cut by
the network was parsed as two broken lines, a UTF-8 character cut in two
raised UnicodeDecodeError, and a CRLF cut between CR and LF dispatched an
event early. feed() now buffers the unfinished line as bytes, decodes only
complete lines, and skips the LF of a CRLF whose CR ended the last chunk.

Fixes #42
{SIGN_OFF}
"""
MESSAGES = {
    "not-a-conventional-commit": f"""Fixed the chunk boundary bug in the decoder.

SSEDecoder.feed() now keeps the unfinished line of a chunk in a buffer and
decodes only complete lines, so tokens are no longer lost.

Fixes #42
{SIGN_OFF}
""",
}


def build(name: str, overlay_dirs: list[Path], out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_upstream(Path(tmp) / "ssekit")
        for overlay in overlay_dirs:
            source = overlay / "ssekit"
            if source.is_dir():
                for relative, data in tree_files(source).items():
                    (repo / relative).parent.mkdir(parents=True, exist_ok=True)
                    (repo / relative).write_bytes(data)
        git(repo, "add", "-A")
        (Path(tmp) / "msg").write_text(MESSAGES.get(name, GOOD_MESSAGE))
        git(repo, "commit", "-q", "-F", str(Path(tmp) / "msg"), env=AUTHOR)
        patch = git(repo, "format-patch", "-1", "HEAD", "--stdout", "--zero-commit", env=AUTHOR).stdout
        out.write_text(patch)
        print(f"{name}: {out.relative_to(LAB)} ({len(patch.splitlines())} lines)")


def sync_solution() -> None:
    """solution/ is graded as a whole lab folder: it holds every upstream file, changed or not."""
    for relative, data in tree_files(LAB / "starter").items():
        target = LAB / "solution" / relative
        if relative != "contribution.patch" and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def main() -> None:
    sync_solution()
    build("solution", [LAB / "solution"], LAB / "solution" / "contribution.patch")
    for mutant in sorted((LAB / "mutants").iterdir()):
        if mutant.is_dir():
            build(mutant.name, [LAB / "solution", mutant], mutant / "contribution.patch")
    shutil.rmtree(LAB / "solution" / "ssekit" / ".pytest_cache", ignore_errors=True)


if __name__ == "__main__":
    main()
