"""Copy detection between submissions of one lab, and against the reference solution.

copydetect's winnowed token fingerprints (the MOSS algorithm) over each submission's Python
files, with the lab's starter code as boilerplate (code everyone was given is not evidence of
copying). A pair is flagged when either side shares at least `threshold` of its own code with
the other. Flags are for the lead to look at, never a rejection: two learners following the
brief closely can write similar code.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

NOISE_TOKENS = 25  # copydetect's default noise threshold (k)
WINDOW = 6  # guarantee threshold 30 - noise 25 + 1
THRESHOLD = 0.8
REFERENCE = "reference-solution"


@dataclass(frozen=True)
class Similar:
    """Two submissions of one lab with much code in common."""

    lab: str
    a: str
    b: str
    share_a: float  # share of a's code found in b
    share_b: float


def python_text(files: Mapping[str, bytes]) -> str:
    """A submission's Python files, in path order, as one text."""
    return "\n".join(files[path].decode("utf-8", "replace") for path in sorted(files) if path.endswith(".py"))


def _fingerprint(text: str, boilerplate: list | None = None):  # noqa: ANN202 - copydetect's own type
    from copydetect import CodeFingerprint

    return CodeFingerprint("submission.py", NOISE_TOKENS, WINDOW, boilerplate=boilerplate, fp=io.StringIO(text),
                           language="python")


def similar_pairs(lab_id: str, submissions: Mapping[str, Mapping[str, bytes]], reference: Mapping[str, bytes],
                  starter: Mapping[str, bytes], threshold: float = THRESHOLD) -> list[Similar]:
    """Pairs (learner, learner) and (learner, reference) whose shared share reaches `threshold`.
    `submissions` maps an owner id to their files."""
    from copydetect import compare_files

    boilerplate = list(_fingerprint(python_text(starter)).hashes) if python_text(starter).strip() else None
    prints = {}
    for owner, files in [*submissions.items(), (REFERENCE, reference)]:
        text = python_text(files)
        if text.strip():
            fingerprint = _fingerprint(text, boilerplate)
            if len(fingerprint.hashes):
                prints[owner] = fingerprint
    owners = [owner for owner in prints if owner != REFERENCE]
    flags = []
    for index, a in enumerate(owners):
        for b in [*owners[index + 1:], *([REFERENCE] if REFERENCE in prints else [])]:
            _overlap, (share_a, share_b), _slices = compare_files(prints[a], prints[b])
            if max(share_a, share_b) >= threshold:
                flags.append(Similar(lab_id, a, b, round(float(share_a), 3), round(float(share_b), 3)))
    return flags


__all__ = ["REFERENCE", "THRESHOLD", "Similar", "python_text", "similar_pairs"]
