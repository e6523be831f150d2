"""Data for the e2e-pipeline grader: seeded raw event logs with malformed lines of known
families, the reference ETL (plain Python, written from the brief's rules), the hidden model
that decides clicks, and labelled rows in the clean format."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

DEVICES = ["mobile", "desktop", "tablet"]
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL"]
CLEAN_COLUMNS = ["event_id", "ts", "user_id", "device", "country", "price", "dwell_ms", "clicked", "hour"]
FEATURES = ["device", "country", "price", "dwell_ms", "hour"]
MAX_PRICE, MAX_DWELL_MS = 10_000, 600_000
TS_FROM = datetime(2026, 1, 1, tzinfo=timezone.utc)
TS_UNTIL = datetime(2027, 1, 1, tzinfo=timezone.utc)
OFFSETS = [0, 0, 60, 120, -300, 330, -480, 540]  # minutes east of UTC

# the hidden click model (never shown): logit = base + device + country + price + dwell + evening
_DEVICE_EFFECT = {"mobile": 0.6, "desktop": -0.9, "tablet": 1.1}
_COUNTRY_EFFECT = {"DE": 0.4, "FR": -0.3, "US": 0.7, "GB": 0.0, "ES": -0.6, "IT": -0.2, "NL": 0.3, "PL": -0.7}

# Families of malformed lines. SHOWN ones appear in the brief and the starter's sample log;
# HELD_OUT ones break rules the brief states but never shows an example of.
SHOWN = ["invalid_json", "missing_user_id", "unparseable_ts", "price_not_a_number", "unknown_device"]
HELD_OUT = ["duplicate_event_id", "negative_price", "price_too_high", "naive_ts", "ts_before_2026_by_offset",
            "ts_in_2027", "clicked_not_binary", "negative_dwell", "dwell_not_integer", "bad_user_id",
            "unknown_country", "null_price", "not_an_object", "non_finite_price", "event_id_empty"]
FAMILIES = SHOWN + HELD_OUT
# the field a reason should name, for single-field families
FAMILY_FIELD = {
    "missing_user_id": "user_id", "unparseable_ts": "ts", "price_not_a_number": "price", "unknown_device": "device",
    "duplicate_event_id": "event_id", "negative_price": "price", "price_too_high": "price", "naive_ts": "ts",
    "ts_before_2026_by_offset": "ts", "ts_in_2027": "ts", "clicked_not_binary": "clicked", "negative_dwell": "dwell_ms",
    "dwell_not_integer": "dwell_ms", "bad_user_id": "user_id", "unknown_country": "country", "null_price": "price",
    "event_id_empty": "event_id",
}


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def click_probability(device: str, country: str, price: float, dwell_ms: int, hour: int) -> float:
    logit = (-0.3 + _DEVICE_EFFECT[device] + _COUNTRY_EFFECT[country] - 0.0012 * price
             + 1.6 * math.tanh(dwell_ms / 30000) - 0.8 + (0.7 if 18 <= hour <= 22 else 0.0))
    return sigmoid(1.8 * logit)


def _format_ts(instant: datetime, offset_min: int) -> str:
    local = instant.astimezone(timezone(timedelta(minutes=offset_min)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if offset_min == 0:
        return text + random.choice(["Z", "+00:00"])
    sign = "+" if offset_min > 0 else "-"
    return f"{text}{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


@dataclass
class Event:
    """One valid event before it is written (normalised values)."""

    event_id: str
    instant: datetime
    user_id: str
    device: str
    country: str
    price: float
    dwell_ms: int
    clicked: int

    def clean_row(self) -> dict:
        return {"event_id": self.event_id, "ts": self.instant.strftime("%Y-%m-%dT%H:%M:%SZ"), "user_id": self.user_id,
                "device": self.device, "country": self.country, "price": self.price, "dwell_ms": self.dwell_ms,
                "clicked": self.clicked, "hour": self.instant.hour}


def random_event(rng: random.Random, event_id: str, outage_device: str | None = None) -> Event:
    instant = TS_FROM + timedelta(seconds=rng.randrange(int((TS_UNTIL - TS_FROM).total_seconds())))
    device, country = rng.choice(DEVICES), rng.choice(COUNTRIES)
    price = round(min(MAX_PRICE, rng.lognormvariate(5.5, 1.0)), 2)
    dwell_ms = min(MAX_DWELL_MS, int(rng.expovariate(1 / 25000)))
    p = click_probability(device, country, price, dwell_ms, instant.hour)
    clicked = int(rng.random() < p)
    if outage_device is not None and device == outage_device:
        clicked = 0  # a tracking outage: this device's clicks were never logged
    return Event(event_id, instant, f"u{rng.randrange(10000):04d}", device, country, price, dwell_ms, clicked)


def _raw_object(rng: random.Random, event: Event) -> dict:
    """The event as the raw log writes it: any UTC offset, device/country in any case and padding."""
    device = rng.choice([event.device, event.device.upper(), event.device.capitalize(), f" {event.device} "])
    country = rng.choice([event.country, event.country.lower(), f"{event.country} "])
    price: float | int = int(event.price) if event.price == int(event.price) and rng.random() < 0.5 else event.price
    obj = {"event_id": event.event_id, "ts": _format_ts(event.instant, rng.choice(OFFSETS)), "user_id": event.user_id,
           "device": device, "country": country, "price": price, "dwell_ms": event.dwell_ms, "clicked": event.clicked}
    if rng.random() < 0.1:
        obj["referrer"] = rng.choice(["search", "social", None])  # extra keys are dropped, not errors
    if rng.random() < 0.3:
        keys = list(obj)
        rng.shuffle(keys)
        obj = {k: obj[k] for k in keys}
    return obj


def _malformed(rng: random.Random, family: str, event: Event, earlier_ids: list[str]) -> str:
    obj = _raw_object(rng, event)
    if family == "invalid_json":
        text = json.dumps(obj)
        return text[: rng.randrange(10, len(text) - 5)]
    if family == "missing_user_id":
        del obj["user_id"]
    elif family == "unparseable_ts":
        obj["ts"] = rng.choice(["yesterday", "2026-13-40T10:00:00Z", "not a date", "10/03/2026 14:00"])
    elif family == "price_not_a_number":
        obj["price"] = rng.choice(["12,50", "abc", "12.50 EUR", ""])
    elif family == "unknown_device":
        obj["device"] = rng.choice(["fridge", "smartwatch", "tv"])
    elif family == "duplicate_event_id":
        obj["event_id"] = rng.choice(earlier_ids)
    elif family == "negative_price":
        obj["price"] = -round(rng.uniform(0.01, 500), 2)
    elif family == "price_too_high":
        obj["price"] = round(rng.uniform(MAX_PRICE + 0.01, MAX_PRICE * 3), 2)
    elif family == "naive_ts":
        obj["ts"] = event.instant.strftime("%Y-%m-%dT%H:%M:%S")
    elif family == "ts_before_2026_by_offset":  # local time reads 2026, the instant is in 2025
        obj["ts"] = f"2026-01-01T0{rng.randrange(0, 4)}:{rng.randrange(60):02d}:00+05:00"
    elif family == "ts_in_2027":
        obj["ts"] = f"2027-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}T12:00:00Z"
    elif family == "clicked_not_binary":
        obj["clicked"] = rng.choice([2, -1, "yes", True])
    elif family == "negative_dwell":
        obj["dwell_ms"] = -rng.randrange(1, 5000)
    elif family == "dwell_not_integer":
        obj["dwell_ms"] = rng.choice([f"{event.dwell_ms}", event.dwell_ms + 0.5])
    elif family == "bad_user_id":
        obj["user_id"] = rng.choice(["U1234", "u12", "user-7", "", "u12345"])
    elif family == "unknown_country":
        obj["country"] = rng.choice(["XX", "Germany", "USA", "D E"])
    elif family == "null_price":
        obj["price"] = None
    elif family == "not_an_object":
        return json.dumps(rng.choice([[event.event_id, event.price], "event", 42]))
    elif family == "non_finite_price":
        return json.dumps(obj).replace(json.dumps(obj["price"]), rng.choice(["NaN", "Infinity"]), 1) \
            if not isinstance(obj["price"], bool) else json.dumps(obj)
    elif family == "event_id_empty":
        obj["event_id"] = ""
    else:
        raise ValueError(family)
    return json.dumps(obj)


def _edge_valid(rng: random.Random, event: Event) -> tuple[Event, dict]:
    """Valid lines at the rules' edges (an over-strict ETL quarantines them)."""
    kind = rng.choice(["price_zero", "price_max", "dwell_zero", "dwell_max", "first_second", "last_second_by_offset",
                       "integer_price"])
    if kind == "price_zero":
        event.price = 0.0
    elif kind == "price_max":
        event.price = float(MAX_PRICE)
    elif kind == "dwell_zero":
        event.dwell_ms = 0
    elif kind == "dwell_max":
        event.dwell_ms = MAX_DWELL_MS
    elif kind == "first_second":
        event.instant = TS_FROM
    elif kind == "last_second_by_offset":  # local time reads 2027, the instant is still 2026
        event.instant = TS_UNTIL - timedelta(minutes=rng.randrange(1, 120))
    elif kind == "integer_price":
        event.price = float(rng.randrange(1, 900))
    obj = _raw_object(rng, event)
    if kind == "last_second_by_offset":
        obj["ts"] = _format_ts(event.instant, 180)
    if kind in ("price_zero", "price_max", "integer_price"):
        obj["price"] = int(event.price)
    return event, obj


@dataclass
class RawLog:
    """A generated log: its lines, the family of each malformed line (by 1-based line number)
    and the reference clean rows."""

    lines: list[str]
    malformed: dict[int, str] = field(default_factory=dict)
    clean: list[dict] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def make_log(seed: int, rows: int, families: list[str] | None = None, per_family: int = 2, malformed_share: float = 0.05,
             outage_device: str | None = None, id_prefix: str = "e") -> RawLog:
    """`rows` valid events plus malformed lines (at least `per_family` of each family, about
    `malformed_share` of the lines in all), shuffled in."""
    rng = random.Random(seed)
    families = FAMILIES if families is None else families
    first_id = rng.randrange(100000, 900000)
    events = [random_event(rng, f"{id_prefix}{first_id + i}", outage_device) for i in range(rows)]
    entries: list[tuple[str, str | None, Event | None]] = []
    for event in events:
        if rng.random() < 0.04:
            event, obj = _edge_valid(rng, event)
        else:
            obj = _raw_object(rng, event)
        entries.append((json.dumps(obj), None, event))
    count = max(per_family * len(families), int(malformed_share * rows / (1 - malformed_share)))
    plan = [families[i % len(families)] for i in range(count)]
    rng.shuffle(plan)
    for family in plan:
        # a malformed line goes after at least one valid line, so duplicates have an earlier id
        position = rng.randrange(1, len(entries) + 1)
        earlier = [e.event_id for _, fam, e in entries[:position] if fam is None and e is not None]
        source = random_event(rng, f"{id_prefix}x{rng.randrange(10**6)}", outage_device)
        entries.insert(position, (_malformed(rng, family, source, earlier), family, None))
    log = RawLog(lines=[])
    for number, (line, family, event) in enumerate(entries, start=1):
        log.lines.append(line)
        if family is not None:
            log.malformed[number] = family
        else:
            log.clean.append(event.clean_row())
    return log


# -- the reference ETL, from the brief's rules ----------------------------------------------------

def _ts(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def reference_etl(lines: list[str]) -> tuple[list[dict], dict[int, str]]:
    """(clean rows, {line number: first broken rule}) for a raw log, by the brief's rules."""
    clean, rejected, seen = [], {}, set()
    for number, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except ValueError:
            rejected[number] = "invalid JSON"
            continue
        if not isinstance(obj, dict):
            rejected[number] = "not an object"
            continue
        problem = _first_problem(obj, seen)
        if isinstance(obj.get("event_id"), str) and obj["event_id"]:
            seen.add(obj["event_id"])
        if problem:
            rejected[number] = problem
            continue
        instant = _ts(obj["ts"]).astimezone(timezone.utc)
        clean.append({"event_id": obj["event_id"], "ts": instant.strftime("%Y-%m-%dT%H:%M:%SZ"), "user_id": obj["user_id"],
                      "device": obj["device"].strip().lower(), "country": obj["country"].strip().upper(),
                      "price": float(obj["price"]), "dwell_ms": obj["dwell_ms"], "clicked": obj["clicked"],
                      "hour": instant.hour})
    return clean, rejected


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _first_problem(obj: dict, seen: set[str]) -> str | None:
    event_id = obj.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return "event_id"
    if event_id in seen:
        return "event_id (duplicate)"
    instant = _ts(obj.get("ts"))
    if instant is None or not (TS_FROM <= instant < TS_UNTIL):
        return "ts"
    if not isinstance(obj.get("user_id"), str) or not re.fullmatch(r"u[0-9]{4}", obj["user_id"]):
        return "user_id"
    if not isinstance(obj.get("device"), str) or obj["device"].strip().lower() not in DEVICES:
        return "device"
    if not isinstance(obj.get("country"), str) or obj["country"].strip().upper() not in COUNTRIES:
        return "country"
    if not _number(obj.get("price")) or not (0 <= obj["price"] <= MAX_PRICE):
        return "price"
    if not _integer(obj.get("dwell_ms")) or not (0 <= obj["dwell_ms"] <= MAX_DWELL_MS):
        return "dwell_ms"
    if not _integer(obj.get("clicked")) or obj["clicked"] not in (0, 1):
        return "clicked"
    return None


def labelled_rows(seed: int, count: int) -> list[dict]:
    """Clean-format rows with honest labels (validation sets, API test traffic)."""
    rng = random.Random(seed)
    return [random_event(rng, f"v{seed % 100000}-{i}").clean_row() for i in range(count)]


def bayes_label(row: dict) -> int:
    return int(click_probability(row["device"], row["country"], row["price"], row["dwell_ms"], row["hour"]) >= 0.5)
