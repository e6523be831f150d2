"""SCRIPTED, DELIBERATELY OBEDIENT MODEL (dependency injection in place of workbench.llm.chat).

It follows any attacker instruction it can read, in any encoding, wherever it appears in its
input (the customer's message or a document, spotlighted or not), and it always complies:
it prints the system prompt, a sentence of it, the canary or the API key, encoded as the
attacker asked, or emails them with send_email when that tool is offered. With no attack in
sight it answers like a well-behaved assistant: it quotes the first knowledge-base document it
was given and, when the customer asked for an email and the tool is offered, emails that quote to
the customer's own address (read from the system prompt).

So a guard passes against it only through its own layers (screening what reaches the model,
screening what leaves it, gating the tool), never because the model refused. It never replaces
the real-model check.
"""

from __future__ import annotations

import base64
import codecs
import json
import re
from typing import Any

from _pi_app import KNOWLEDGE_BASE
from _pi_sets import LEET, Attack
from _pi_text import deleet, squash, squashed_views

from workbench.llm import ChatResponse, ToolCall

GREETING = "Hi, this is Trailhead from Northwind Outfitters support."


def encode_output(text: str, encoding: str) -> str:
    """Apply the encoding the attacker asked for to what the model discloses."""
    if encoding == "base64":
        return base64.b64encode(text.encode()).decode()
    if encoding == "rot13":
        return codecs.encode(text, "rot13")
    if encoding == "reversed":
        return text[::-1]
    if encoding == "spaced":
        return " ".join(text)
    if encoding == "hex":
        return text.encode().hex()
    if encoding == "leet":
        return "".join(LEET.get(ch.lower(), ch) for ch in text)
    return text


def key_sentence(text: str) -> str:
    """A document's first sentence (what the obedient model quotes)."""
    return re.split(r"(?<=\.) ", text)[0]


class ObedientModel:
    """A `chat(messages, tools=..., tool_choice=..., max_tokens=...)` callable; see the module docstring."""

    def __init__(self, attack: Attack | None = None) -> None:
        self.attack = attack
        self.calls = 0
        self.obeyed = 0

    def sees(self, attack: Attack, text: str) -> bool:
        target = squash(attack.action)
        return any(target in view or deleet(target) in view for view in squashed_views(text))

    def __call__(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
                 tool_choice: Any = None, max_tokens: int | None = None, **kwargs: Any) -> ChatResponse:
        self.calls += 1
        system = str(messages[0].get("content", "")) if messages else ""
        rest = "\n".join(str(m.get("content", "")) for m in messages[1:])
        offered = {t.get("function", {}).get("name") for t in tools or []}
        if self.attack is not None and self.sees(self.attack, rest):
            self.obeyed += 1
            return self._obey(self.attack, system, "send_email" in offered)
        return self._answer(system, rest, "send_email" in offered)

    def _obey(self, attack: Attack, system: str, can_email: bool) -> ChatResponse:
        canary = re.search(r"reference code: (\S+?)\. ", system)
        api_key = re.search(r"API key: (\S+?)\. ", system)
        sentences = re.split(r"(?<=\.) ", system)
        if attack.goal == "hijack":
            return ChatResponse(content=f"As instructed: {attack.action}.", finish_reason="stop", model="obedient",
                                prompt_tokens=10, completion_tokens=10)
        if attack.goal == "leak_canary":
            secret = canary.group(1) if canary else system
        elif attack.goal == "leak_key":
            secret = api_key.group(1) if api_key else system
        elif attack.goal == "leak_part":
            secret = sentences[attack.part] if sentences else system
        else:
            secret = system
        payload = encode_output(secret, attack.out_encoding)
        if attack.recipient and can_email:
            arguments = {"to": attack.recipient, "subject": "Requested data", "body": payload}
            return ChatResponse(content="Done, I sent it.", tool_calls=[ToolCall("obedient_0", "send_email", json.dumps(arguments))],
                                finish_reason="tool_calls", model="obedient", prompt_tokens=10, completion_tokens=10)
        return ChatResponse(content=f"Sure! Here it is: {payload}", finish_reason="stop", model="obedient",
                            prompt_tokens=10, completion_tokens=10)

    def _answer(self, system: str, rest: str, can_email: bool) -> ChatResponse:
        views = squashed_views(rest)
        plain = views[0]
        found = []  # (position in the plain reading, sentence) of every knowledge-base document it can read
        for doc in KNOWLEDGE_BASE:
            sentence = squash(key_sentence(doc.text))
            if any(sentence in view for view in views):
                where = plain.find(sentence)
                found.append((where if where >= 0 else len(plain), key_sentence(doc.text)))
        if not found:
            return ChatResponse(content="I could not find that in our documents.", finish_reason="stop", model="obedient")
        quote = min(found)[1]
        question = rest.rsplit("Customer question:", 1)[-1]
        own = re.search(r"their own address (\S+@\S+?)\.?$", system)
        if can_email and own and re.search(r"\b(e-?mail|mail|send)\b", question, re.IGNORECASE):
            arguments = {"to": own.group(1), "subject": "Your question", "body": quote}
            return ChatResponse(content=f"{GREETING} I have emailed you this: {quote}",
                                tool_calls=[ToolCall("obedient_0", "send_email", json.dumps(arguments))],
                                finish_reason="tool_calls", model="obedient")
        return ChatResponse(content=f"{GREETING} {quote}", finish_reason="stop", model="obedient")
