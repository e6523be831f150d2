"""The guard layer of the Trailhead assistant (app.py): you write it.

app.py calls these four functions on every turn (read Assistant.ask to see exactly where):

  screen_input(text)               -> Screening    the customer's message, and each retrieved document
  spotlight(documents, nonce)      -> str          the documents block the model sees
  screen_output(text, context)     -> OutputCheck  the model's answer, before the customer sees it
  gate_tool(name, arguments, ctx)  -> ToolDecision each tool call the model asks for, before it runs

As shipped, the guard lets everything through: see the TODOs and README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Screening:
    """Verdict of screen_input: `flagged` decides; `score` and `reasons` explain."""

    flagged: bool
    score: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputCheck:
    """Verdict of screen_output: `text` is what the customer sees."""

    text: str
    leaked: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ToolDecision:
    """Verdict of gate_tool."""

    allowed: bool
    reason: str


def screen_input(text: str) -> Screening:
    """Flag injection attempts in a customer message or a retrieved document.

    TODO: direct overrides ("ignore previous instructions"), role-play jailbreaks, requests for
    the system prompt, the configuration or the secrets (however they are named and asked for:
    the grader also uses attack families the brief never shows), instructions addressed to the AI
    inside documents, fake chat turns, and all of these disguised (homoglyphs, zero-width or full-width characters, spaced
    letters, leetspeak, rot13, base64, hex). Benign questions that merely say "instructions",
    "system", "ignore" or "previous" must pass.
    """
    return Screening(flagged=False, score=0.0)


def spotlight(documents: list[Any], nonce: str) -> str:
    """Format the retrieved documents (each has .id, .title, .text) for the model.

    TODO: put each document between an opening line that contains the nonce and the document's
    id and a closing line that contains the nonce; nothing else may contain the nonce (remove any
    copy from the text), and strip chat-template tokens such as <|im_start|>.
    """
    return "\n\n".join(f"Document {doc.id} ({doc.title}):\n{doc.text}" for doc in documents)


def screen_output(text: str, context: Any) -> OutputCheck:
    """Check the model's answer before the customer sees it.

    TODO: if it discloses anything in context.protected (the canary, the API key, the system
    prompt), in any encoding (base64, hex, rot13, reversed, spaced out, leetspeak, homoglyphs),
    return OutputCheck(<a safe reply>, leaked=True, ...). Benign answers come back unchanged.
    """
    return OutputCheck(text=text, leaked=False)


def gate_tool(name: str, arguments: dict[str, Any], context: Any) -> ToolDecision:
    """Decide whether a tool call the model asked for may run.

    TODO: least privilege: only send_email with to/subject/body; only to context.user_email;
    only when the customer asked for an email; never with protected data in it; never in a turn
    whose retrieved documents were flagged (context.untrusted_flagged).
    """
    return ToolDecision(allowed=True, reason="no policy yet")
