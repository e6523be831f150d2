"""The governance controls of the Ledgerly assistant, kept free of web and model code so each can
be tested on its own: input and output guards, the hash-chained audit log, the spend reservation
estimate and the evaluation gate's decision. assistant.py composes them behind the gateway.

Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import json
import math
import os
import re
import threading
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GENESIS = "0" * 64  # prev_hash of the first audit record


# -- reading text the way a model reads it ---------------------------------------------------------

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_ZW = str.maketrans("", "", ZERO_WIDTH)
_CONFUSABLES = {
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y", "\u0445": "x",
    "\u0456": "i", "\u0455": "s", "\u0458": "j", "\u04bb": "h", "\u0501": "d", "\u03bf": "o", "\u03b1": "a",
    "\u03b9": "i", "\u03bd": "v", "\u03c4": "t", "\u03ba": "k", "\u0410": "a", "\u0415": "e", "\u041e": "o",
    "\u0420": "p", "\u0421": "c", "\u0425": "x", "\u0406": "i", "\u0422": "t", "\u041d": "h", "\u041c": "m",
    "\u041a": "k", "\u0412": "b",
}
_DELEET = str.maketrans({"4": "a", "3": "e", "1": "i", "0": "o", "5": "s", "7": "t", "@": "a", "$": "s"})


def fold(text: str) -> str:
    """NFKC, look-alike letters to Latin, accents and zero-width characters removed, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_ZW)
    text = "".join(_CONFUSABLES.get(ch, ch) for ch in text)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return text.lower()


def squash(text: str) -> str:
    """fold() keeping only [a-z0-9]: spacing, dashes and punctuation cannot hide a string."""
    return re.sub(r"[^a-z0-9]", "", fold(text))


def _readable(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded or sum(ch.isprintable() or ch.isspace() for ch in decoded) < 0.9 * len(decoded):
        return None
    return decoded


def decoded_segments(text: str) -> list[str]:
    """Readable text hidden in base64 or hex runs of `text`."""
    found = []
    plain = unicodedata.normalize("NFKC", text).translate(_ZW)
    for token in re.findall(r"[A-Za-z0-9+/_-]{12,}={0,2}", plain):
        body = token.rstrip("=")
        body += "=" * (-len(body) % 4)
        for decoder in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = _readable(decoder(body))
            except (binascii.Error, ValueError):
                decoded = None
            if decoded:
                found.append(decoded)
                break
    for token in re.findall(r"(?:[0-9a-fA-F]{2}[\s:]?){8,}", plain):
        digits = re.sub(r"[\s:]", "", token)
        try:
            decoded = _readable(bytes.fromhex(digits[: len(digits) // 2 * 2]))
        except ValueError:
            decoded = None
        if decoded:
            found.append(decoded)
    return found


def _join_spaced(text: str) -> str:
    """'i g n o r e  a l l' -> 'ignore all' (single letters separated by single spaces)."""
    return re.sub(r"\b(?:\w ){2,}\w\b", lambda m: m.group(0).replace(" ", ""), text)


def readings(text: str) -> list[str]:
    """Every reading of a message an attacker can count on a model to understand: the folded text
    first, then spaced letters joined, de-leeted, rot13, reversed, quoted pieces concatenated
    (payload splitting), and the same for every base64/hex run."""
    out = []
    for source in [text, *decoded_segments(text)]:
        folded = fold(source)
        pieces = re.findall(r"['\"]([^'\"]{1,40})['\"]", folded)
        out += [folded, _join_spaced(folded), folded.translate(_DELEET), codecs.encode(folded, "rot13"),
                folded[::-1], "".join(pieces) if len(pieces) >= 2 else ""]
    return out


# -- input guard --------------------------------------------------------------------------------------

_OBJECT = (r"(system\s*prompt|(your|its|the assistant'?s|the model'?s|hidden|initial|original|secret)\s+"
           r"(instructions?|prompt|rules|guidelines|configuration|config|directives|policy|policies|setup)|"
           r"(rules|instructions|text|everything|what)\s+(that\s+)?you\s+(were|have been)\s+(given|told|sent|shown)|"
           r"(text|everything|words)\s+(above|before (this|my) message)|(start|beginning) of (this|the) conversation|"
           r"reference code|canary|api[\s_-]*key|secret (key|code|token)|credentials|access token|password)")
_PATTERNS = {
    "override": re.compile(
        r"\b(ignore|disregard|forget|override|bypass|skip|drop|abandon|discard)\b.{0,40}\b(previous|prior|above|earlier|all|"
        r"your|any|the|these|those|system)\b.{0,30}\b(instructions?|rules|guidelines|prompts?|directives|policies|"
        r"constraints|guardrails|safeguards)"),
    "new_rules": re.compile(r"\b(new|updated|real|actual) (instructions|rules|directives)\b.{0,20}(:|are|follow)|"
                            r"\byour (old|previous|prior) (instructions|rules) (are|were) (void|cancelled|revoked|obsolete)|"
                            r"\bfrom now on,? you (will|must|are)\b"),
    "roleplay": re.compile(r"\bdan\b|do anything now|developer mode|jailbr[eo]a?k|\bgod mode\b|"
                           r"(pretend|imagine|act|behave|roleplay|role-play)\s+(that\s+)?(you are|you're|to be|as)\s+(an?\s+)?"
                           r"(unrestricted|unfiltered|uncensored|evil|rogue|different|other) |"
                           r"without (any )?(restrictions|limits|filters|rules|guardrails)|no (restrictions|filters|guardrails)\b"),
    "extraction": re.compile(r"\b(reveal|print|show|repeat|output|tell|give|display|dump|leak|share|list|write|spell|"
                             r"encode|translate|summari[sz]e|recite|paste|copy|quote|send|read|complete|continue|"
                             r"what (is|are|was|were))\b.{0,60}" + _OBJECT + r"|" + _OBJECT + r".{0,40}\?"),
    "addressed_to_ai": re.compile(r"\b(note|message|attention|instruction)s? (to|for) (the |any |all )?(ai|assistant|llm|"
                                  r"model|agent|bot)s?\b|\bif you are an? (ai|language model|llm|assistant|bot)\b|"
                                  r"\b(ai|automated) (agents?|assistants?|models?|systems?) (reading|processing|handling|"
                                  r"summari[sz]ing) (this|these)\b"),
    "fake_turn": re.compile(r"<\|im_(start|end)\|>|<\|(system|assistant|user)\|>|\[(system|assistant)\]|"
                            r"(^|\n)\s*(system|assistant)\s*:|<!--\s*(system|assistant)"),
}
_SQUASHED = re.compile(r"systemprompt|ignoreallpreviousinstructions|ignorepreviousinstructions|yourinstructions|"
                       r"referencecode|apikey|developermode")


def screen_input(text: str) -> list[str]:
    """Why `text` looks like an injection attempt (empty list: let it through)."""
    views = readings(text)
    reasons = [name for name, pattern in _PATTERNS.items() if any(pattern.search(view) for view in views)]
    if not reasons:
        plain = re.sub(r"[^a-z0-9]", "", views[0])
        hidden = [re.sub(r"[^a-z0-9]", "", view) for view in views[1:]]
        if not _SQUASHED.search(plain) and any(_SQUASHED.search(view) for view in hidden):
            reasons.append("obfuscated")  # only visible once spacing, encodings or splitting are undone
    return reasons


# -- output guard -------------------------------------------------------------------------------------

WITHHELD = "I can't share that. The answer was withheld by the output guard."


def _views(text: str) -> list[str]:
    sources = [text]
    for segment in decoded_segments(text):
        sources += [segment, *decoded_segments(segment)]
    views = []
    for source in sources:
        plain = squash(source)
        views += [plain, plain[::-1], codecs.encode(plain, "rot13"), plain.translate(_DELEET)]
    return views


def screen_output(text: str, protected: list[str]) -> list[str]:
    """Which protected values `text` discloses, in any encoding the views undo."""
    if not text:
        return []
    views = _views(text)
    found = []
    for index, secret in enumerate(protected):
        target = squash(secret)
        if target and any(target in view or target.translate(_DELEET) in view for view in views):
            found.append(f"protected[{index}]")
    return found


# -- spend --------------------------------------------------------------------------------------------

def estimate_cost(messages: list[dict[str, Any]], tools: list[dict[str, Any]], max_tokens: int,
                  prices: tuple[float, float]) -> float:
    """Worst-case USD of one call: the stated prompt bound (JSON characters / 2 + 100 tokens)
    plus max_tokens of completion, at the per-1M prices."""
    characters = len(json.dumps(messages)) + len(json.dumps(tools or []))
    prompt_tokens = math.ceil(characters / 2) + 100
    return (prompt_tokens * prices[0] + max_tokens * prices[1]) / 1_000_000


def usage_cost(usage: dict[str, Any], prices: tuple[float, float]) -> float:
    """USD of the tokens the backend reported."""
    return (int(usage.get("prompt_tokens") or 0) * prices[0] + int(usage.get("completion_tokens") or 0) * prices[1]) / 1_000_000


def confidence(logprobs: list[float] | None) -> float | None:
    """exp(mean token logprob): the model's own confidence in its reply; None without logprobs."""
    if not logprobs:
        return None
    return math.exp(sum(logprobs) / len(logprobs))


# -- the evaluation gate --------------------------------------------------------------------------------

def case_passes(answer: str, expect: str) -> bool:
    """An eval case passes when the expected text appears in the answer (case-insensitive)."""
    return expect.casefold() in (answer or "").casefold()


def gate_decision(baseline: dict[str, bool], candidate: dict[str, bool]) -> dict[str, Any]:
    """Promote a candidate only if no case the current model passes fails on it, and its pass rate
    is at least the current one's. An aggregate alone would hide a regression behind a fix."""
    regressions = sorted(case for case, ok in baseline.items() if ok and not candidate.get(case, False))
    base_rate = sum(baseline.values()) / max(1, len(baseline))
    cand_rate = sum(candidate.get(case, False) for case in baseline) / max(1, len(baseline))
    return {"promoted": cand_rate >= base_rate, "regressions": [] if cand_rate >= base_rate else regressions,
            "baseline_pass_rate": base_rate, "candidate_pass_rate": cand_rate}


# -- the audit log --------------------------------------------------------------------------------------

def canonical_json(obj: Any) -> bytes:
    """The bytes a record's hash covers: sorted keys, no spaces, UTF-8 (part of the format)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of the record without its "hash" field."""
    return hashlib.sha256(canonical_json({k: v for k, v in record.items() if k != "hash"})).hexdigest()


class AuditLog:
    """Append-only, hash-chained JSON lines: every record carries seq, ts, prev_hash and hash."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seq = 0
        self._prev = GENESIS
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    self._seq, self._prev = record["seq"] + 1, record["hash"]

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Chain `entry` onto the log and write it as one line; returns the record written."""
        with self._lock:
            record = dict(entry)
            record.update(seq=self._seq, ts=datetime.now(timezone.utc).isoformat(), prev_hash=self._prev)
            record["hash"] = record_hash(record)
            line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            self._seq, self._prev = self._seq + 1, record["hash"]
            return record
