"""Generated PII test set for the audit-trail grader (templates x entities, from a seed).

Each text comes with its gold PII spans (kind, start, end) and its decoys: card numbers that
fail the Luhn check and IBANs that fail mod 97, in the same formats as the real ones (they must
NOT be redacted), next to benign numbers (order ids, dates, amounts, versions, postcodes).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

KINDS = ("email", "phone", "card", "iban")

FIRST = ["anna", "ben", "chloe", "dmitri", "elena", "farid", "grace", "hiro", "ines", "jonas", "kemi", "lucia",
         "marco", "nadia", "oscar", "priya", "quentin", "rosa", "sven", "tomasz", "uma", "victor", "wei", "yara"]
LAST = ["schmidt", "okafor", "dubois", "rossi", "tanaka", "kowalski", "garcia", "nguyen", "larsen", "smith",
        "haddad", "moreau", "fischer", "silva", "novak", "byrne"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "uni-example.de", "example.io",
           "support.example.net", "example-bank.eu"]

# country -> BBAN layout: n = digit, a = upper-case letter, c = either
IBAN_FORMATS = {"DE": "8n10n", "GB": "4a6n8n", "FR": "5n5n11c2n", "NL": "4a10n", "ES": "4n4n2n10n",
                "IT": "1a5n5n12c", "BE": "3n7n2n", "CH": "5n12c", "AT": "5n11n", "IE": "4a6n8n"}


@dataclass
class Sample:
    text: str
    gold: list[tuple[str, int, int]] = field(default_factory=list)
    decoys: list[tuple[str, int, int]] = field(default_factory=list)


def luhn_digit(body: str) -> str:
    """The check digit that makes body + digit pass the Luhn test."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    digits = [c for c in number if c.isdigit()]
    return luhn_digit("".join(digits[:-1])) == digits[-1]


def iban_mod97(compact: str) -> int:
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    # -- entities ------------------------------------------------------------------------------
    def digits(self, n: int, first_nonzero: bool = False) -> str:
        out = "".join(self.rng.choice(string.digits) for _ in range(n))
        if first_nonzero and out[0] == "0":
            out = str(self.rng.randint(1, 9)) + out[1:]
        return out

    def email(self) -> str:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        local = self.rng.choice([f"{first}.{last}", f"{first[0]}.{last}", f"{first}{last}{self.rng.randint(1, 99)}",
                                 f"{first}_{last}+news", f"{first.upper()}.{last.capitalize()}", f"{first}-{last}"])
        return f"{local}@{self.rng.choice(DOMAINS)}"

    def phone(self) -> str:
        r = self.rng
        area, exch, line = str(r.randint(201, 989)), str(r.randint(201, 989)), self.digits(4)
        style = r.randrange(12)
        if style == 0:
            return f"+1 {area} {exch} {line}"
        if style == 1:
            return f"+1-{area}-{exch}-{line}"
        if style == 2:
            return f"+1{area}{exch}{line}"
        if style == 3:
            return f"({area}) {exch}-{line}"
        if style == 4:
            return f"{area}-{exch}-{line}"
        if style == 5:
            return f"{area}.{exch}.{line}"
        if style == 6:
            return f"+44 20 {self.digits(4, True)} {self.digits(4)}"
        if style == 7:
            return f"+44 7{self.digits(3)} {self.digits(6)}"
        if style == 8:
            return f"+49 30 {self.digits(r.randint(7, 8), True)}"
        if style == 9:
            return "+33 " + str(r.randint(1, 9)) + " " + " ".join(self.digits(2) for _ in range(4))
        if style == 10:
            return f"0044 20 {self.digits(4, True)} {self.digits(4)}"
        return r.choice([f"020 {self.digits(4, True)} {self.digits(4)}", f"07{self.digits(3)} {self.digits(6)}"])

    def _card_body(self) -> str:
        r = self.rng
        brand = r.randrange(6)
        if brand == 0:
            prefix, length = "4", 16
        elif brand == 1:
            prefix, length = str(r.randint(51, 55)), 16
        elif brand == 2:
            prefix, length = str(r.randint(2221, 2720)), 16
        elif brand == 3:
            prefix, length = r.choice(["34", "37"]), 15
        elif brand == 4:
            prefix, length = "6011", 16
        else:
            prefix, length = "4", 13
        return prefix + self.digits(length - 1 - len(prefix))

    def _format_card(self, number: str) -> str:
        style = self.rng.randrange(3)
        if len(number) == 16 and style < 2:
            sep = " -"[style]
            return sep.join(number[i:i + 4] for i in range(0, 16, 4))
        if len(number) == 15 and style < 2:
            sep = " -"[style]
            return f"{number[:4]}{sep}{number[4:10]}{sep}{number[10:]}"
        return number

    def card(self) -> str:
        body = self._card_body()
        return self._format_card(body + luhn_digit(body))

    def decoy_card(self) -> str:
        body = self._card_body()
        good = int(luhn_digit(body))
        wrong = (good + self.rng.randint(1, 9)) % 10
        return self._format_card(body + str(wrong))

    def _bban(self, country: str) -> str:
        out, count = [], ""
        for char in IBAN_FORMATS[country]:
            if char.isdigit():
                count += char
                continue
            n, count = int(count), ""
            pool = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits * 3 + string.ascii_uppercase}[char]
            out.append("".join(self.rng.choice(pool) for _ in range(n)))
        return "".join(out)

    def _format_iban(self, compact: str) -> str:
        if self.rng.random() < 0.5:
            return compact
        return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))

    def iban(self) -> str:
        country = self.rng.choice(sorted(IBAN_FORMATS))
        bban = self._bban(country)
        check = 98 - iban_mod97(country + "00" + bban)
        compact = f"{country}{check:02d}{bban}"
        assert iban_mod97(compact) == 1
        return self._format_iban(compact)

    def decoy_iban(self) -> str:
        country = self.rng.choice(sorted(IBAN_FORMATS))
        bban = self._bban(country)
        good = 98 - iban_mod97(country + "00" + bban)
        wrong = (good + self.rng.randint(1, 96)) % 97 + 2  # 2..98, never the right one
        if wrong == good:
            wrong = good + 1 if good < 98 else 2
        compact = f"{country}{wrong:02d}{bban}"
        assert iban_mod97(compact) != 1
        return self._format_iban(compact)

    def benign(self) -> str:
        r = self.rng
        options = [
            lambda: f"order ORD-{r.randint(2019, 2026)}-{self.digits(6)}",
            lambda: f"order #{r.randint(10000, 99999)}",
            lambda: f"invoice INV-{self.digits(6)}",
            lambda: f"{r.randint(2019, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
            lambda: f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(2019, 2026)}",
            lambda: f"{r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(2019, 2026)}",
            lambda: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
            lambda: f"${r.randint(1, 9)},{self.digits(3)}.{self.digits(2)}",
            lambda: f"EUR {r.randint(10, 999)}.{self.digits(2)}",
            lambda: f"version v{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)}",
            lambda: f"postcode {self.digits(5, True)}",
            lambda: f"ticket #{r.randint(1000, 99999)}",
            lambda: f"{r.randint(2, 12)} x {r.choice([100, 250, 500])} g",
            lambda: f"{r.randint(1, 99)}.{r.randint(0, 9)}%",
            lambda: f"room {r.randint(1, 9)}.{r.randint(10, 99)}",
            lambda: f"flight LH {r.randint(100, 2999)}",
            lambda: f"SKU {self.digits(5, True)}-{self.digits(2)}",
            lambda: f"batch {r.randint(2019, 2026)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}.{r.randint(1, 9)}",
        ]
        return r.choice(options)()

    # -- texts ---------------------------------------------------------------------------------
    TEMPLATES = [
        "Hi, this is {name}. You can reach me at {email} or on {phone}, thanks.",
        "Please charge my card {card} for {benign}.",
        "Refund the amount to IBAN {iban} before {benign}, please.",
        "The card {decoy_card} in the screenshot is a test value from {benign}.",
        "Customer {email} called from {phone} about {benign} and {benign}.",
        "Wire transfer from {iban} to {decoy_iban} failed on {benign}; retry with {iban}.",
        "My new number is {phone}. Old card {card} was cancelled, see {benign}.",
        "Forward the receipt ({benign}) to {email}; card used: {card}.",
        "Can you check {benign}? The reference {decoy_card} does not look like a real card.",
        "Contact: {name} <{email}>, phone {phone}, account {iban}.",
        "Shipment {benign} left the warehouse at {benign}, no personal data here.",
        "The IBAN {decoy_iban} from the form has a typo; the right one is {iban}.",
        "Escalate: {phone} / {email} reported a double charge on {card} for {benign}.",
        "Number {decoy_card} failed validation, while {card} went through at {benign}.",
        "Reply to {email} and cc {email} about {benign}.",
        "Call me back at {phone} or {phone} between {benign} and {benign}.",
        "Paid with {card} on {benign}; confirmation sent to {email}.",
        "Batch {benign} processed {benign} records without errors.",
        "IBAN: {iban}\nCard: {card}\nPhone: {phone}\nMail: {email}",
        "Totals for {benign}: {benign}, {benign} and {benign}.",
    ]

    def sample(self) -> Sample:
        template = self.rng.choice(self.TEMPLATES)
        text, gold, decoys = "", [], []
        rest = template
        while rest:
            start = rest.find("{")
            if start < 0:
                text += rest
                break
            text += rest[:start]
            end = rest.index("}", start)
            slot = rest[start + 1:end]
            rest = rest[end + 1:]
            if slot == "name":
                value = f"{self.rng.choice(FIRST).capitalize()} {self.rng.choice(LAST).capitalize()}"
            else:
                value = getattr(self, slot)()
            begin = len(text)
            text += value
            if slot in KINDS:
                gold.append((slot, begin, len(text)))
            elif slot.startswith("decoy_"):
                decoys.append((slot.removeprefix("decoy_"), begin, len(text)))
        return Sample(text, gold, decoys)

    def samples(self, n: int) -> list[Sample]:
        return [self.sample() for _ in range(n)]


def alnum_extent(text: str, start: int, end: int) -> tuple[int, int]:
    """The span from the first to the last letter/digit inside [start, end)."""
    inner = [i for i in range(start, end) if text[i].isalnum()]
    return inner[0], inner[-1] + 1


def score(samples: list[Sample], predict, slack: int = 2) -> dict:
    """Entity-level recall and precision of `predict(text) -> [(kind, start, end)]`.

    A gold span is found when a prediction of the same kind covers all its letters and digits.
    A prediction is correct when it overlaps a gold span of the same kind and reaches at most
    `slack` characters beyond it on either side."""
    found = total = correct = predicted = decoys_hit = decoys = 0
    per_kind = {kind: [0, 0] for kind in KINDS}
    misses: list[str] = []
    false_alarms: list[str] = []
    for sample in samples:
        spans = [tuple(s) for s in predict(sample.text)]
        for kind, start, end in sample.gold:
            total += 1
            per_kind[kind][1] += 1
            a, b = alnum_extent(sample.text, start, end)
            if any(k == kind and s <= a and e >= b for k, s, e in spans):
                found += 1
                per_kind[kind][0] += 1
            elif len(misses) < 5:
                misses.append(f"{kind} {sample.text[start:end]!r}")
        for kind, start, end in spans:
            predicted += 1
            ok = any(k == kind and s < end and start < e and start >= s - slack and end <= e + slack
                     for k, s, e in sample.gold)
            correct += ok
            if not ok and len(false_alarms) < 5:
                false_alarms.append(f"{kind} {sample.text[max(0, start):end]!r}")
        for _kind, start, end in sample.decoys:
            decoys += 1
            decoys_hit += any(s < end and start < e for _, s, e in spans)
    return {
        "recall": found / total if total else 0.0,
        "precision": correct / predicted if predicted else 0.0,
        "gold": total, "predicted": predicted, "decoys": decoys, "decoys_redacted": decoys_hit,
        "per_kind_recall": {kind: (hit / n if n else 1.0) for kind, (hit, n) in per_kind.items()},
        "misses": misses, "false_alarms": false_alarms,
    }
