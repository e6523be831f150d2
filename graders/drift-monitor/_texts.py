"""Support-ticket texts by topic, generated from a seed, and their MiniLM embeddings.

Each topic has sentence templates and slot fillers; a fresh seed draws new tickets every run.
The brief shows a full topic swap (billing and shipping tickets -> login and crash tickets);
the held-out shifts are a new topic arriving in part of the traffic and a change in the mix of
the same topics.
"""

from __future__ import annotations

import random

import numpy as np

_TOPICS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "billing": (
        ["I was charged {amount} twice for my {plan} plan this month.",
         "Why does my invoice show an extra {amount} fee for the {plan} plan?",
         "The {plan} subscription renewed at {amount} instead of the advertised price.",
         "Please explain the {amount} charge on my card, I only have the {plan} plan.",
         "My bank statement lists a payment of {amount} that I never approved."],
        {"amount": ["$19.99", "$49", "EUR 12", "$120", "GBP 30", "$7.50"],
         "plan": ["basic", "premium", "family", "annual", "business", "student"]}),
    "shipping": (
        ["My {item} still has not arrived, the tracking has not moved for {days} days.",
         "The courier says the {item} was delivered but nothing came to my door.",
         "Order of a {item} is stuck in customs for {days} days, when will it ship?",
         "Can you change the delivery address for my {item} before it is dispatched?",
         "The parcel with my {item} arrived {days} days late and the box was crushed."],
        {"item": ["blender", "desk lamp", "pair of boots", "phone case", "rug", "coffee grinder"],
         "days": ["three", "five", "ten", "twelve", "two", "eight"]}),
    "login": (
        ["I cannot log in to my account, the {factor} code never arrives.",
         "Password reset link says it expired after {minutes} minutes, I am locked out.",
         "After the update my {factor} stopped working and I cannot sign in.",
         "The app keeps saying invalid credentials even after I reset my password.",
         "My account was locked after {minutes} failed sign-in attempts, please unlock it."],
        {"factor": ["two-factor", "SMS", "authenticator", "email verification", "security key", "one-time"],
         "minutes": ["five", "ten", "two", "fifteen", "thirty", "three"]}),
    "crash": (
        ["The app crashes every time I open the {screen} screen on my {device}.",
         "Since version {version} the application freezes and closes on my {device}.",
         "Tapping {screen} makes the app quit with a blank white page.",
         "The {device} app shows an error and shuts down right after version {version}.",
         "It hangs on the loading spinner when I go to {screen}, then crashes."],
        {"screen": ["settings", "checkout", "profile", "search", "history", "notifications"],
         "device": ["iPhone", "Android tablet", "Pixel phone", "iPad", "Windows laptop", "Chromebook"],
         "version": ["4.2", "5.0.1", "3.9", "6.1", "4.8.3", "5.5"]}),
    "refund": (
        ["I returned the {item} {days} days ago and still have no refund.",
         "How do I get my money back for a {item} that does not work?",
         "The refund for my {item} was only partial, I expected the full amount.",
         "I want to return this {item}, it is not what I ordered.",
         "You promised a refund within {days} days for the {item} but nothing came."],
        {"item": ["jacket", "headphones", "toaster", "backpack", "keyboard", "watch"],
         "days": ["seven", "fourteen", "twenty", "thirty", "ten", "five"]}),
    "quality": (
        ["The {item} broke after {weeks} weeks of normal use.",
         "The stitching on my {item} came apart on the first day.",
         "The {item} feels cheap and the colour is nothing like the photos.",
         "My {item} overheats and smells of burnt plastic after {weeks} weeks.",
         "The {item} arrived scratched and one part is missing."],
        {"item": ["kettle", "sofa cover", "drill", "stroller", "lamp", "suitcase"],
         "weeks": ["two", "three", "six", "four", "eight", "five"]}),
    "privacy": (
        ["Under GDPR I request a copy of all personal data you hold about me.",
         "Please delete my account and every record of my {data} within {days} days.",
         "Why are you sharing my {data} with third-party advertisers?",
         "I withdraw my consent for processing my {data}, confirm in writing.",
         "Who is your data protection officer? I want to know how my {data} is stored."],
        {"data": ["location history", "purchase history", "email address", "phone number", "browsing data", "contacts"],
         "days": ["thirty", "ten", "fourteen", "seven", "twenty", "sixty"]}),
    "praise": (
        ["Just wanted to say the {team} was wonderful, thank you so much!",
         "Great job on the new {feature}, it makes my day so much easier.",
         "Your {team} went above and beyond, five stars from me.",
         "I love the {feature}, best update you have shipped this year.",
         "Huge thanks to the {team} for sorting everything out so quickly."],
        {"team": ["support team", "delivery driver", "store staff", "chat agent", "help desk", "sales rep"],
         "feature": ["dark mode", "order tracker", "budget view", "recipe planner", "widget", "offline mode"]}),
}

SHOWN_TOPICS = ("billing", "shipping", "login", "crash")   # the brief's example uses these
TOPICS = tuple(_TOPICS)


def tickets(topic: str, n: int, rng: random.Random) -> list[str]:
    """n tickets of one topic, each a template with its slots filled (customer details vary)."""
    templates, slots = _TOPICS[topic]
    out = []
    for _ in range(n):
        text = rng.choice(templates).format(**{k: rng.choice(v) for k, v in slots.items()})
        if rng.random() < 0.5:
            text = f"{rng.choice(['Hi,', 'Hello,', 'Hey team,', 'Good morning,', 'Dear support,'])} {text}"
        if rng.random() < 0.4:
            text += f" Order #{rng.randint(10000, 99999)}."
        out.append(text)
    return out


_embedder = None


def embed(texts: list[str]) -> np.ndarray:
    """MiniLM int8 sentence vectors (unit length), computed in the grader."""
    global _embedder
    if _embedder is None:
        from workbench.llm.embeddings import Embedder

        _embedder = Embedder(threads=1)
    return np.asarray(_embedder.encode(texts), dtype=np.float64)


def topic_pools(seed: int, per_topic: int) -> dict[str, np.ndarray]:
    """{topic: (per_topic, 384) embeddings of fresh tickets}."""
    rng = random.Random(seed)
    texts = {topic: tickets(topic, per_topic, rng) for topic in TOPICS}
    flat = [t for topic in TOPICS for t in texts[topic]]
    vectors = embed(flat)
    return {topic: vectors[i * per_topic:(i + 1) * per_topic] for i, topic in enumerate(TOPICS)}
