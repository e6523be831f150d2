"""Grader for audit-trail: a hash-chained JSON-lines audit log of model calls, written by a
litellm callback, with PII redaction and a regulator-ready export.

The grader reads every log with its own code (_chain.py, the format the README specifies), so
a log must be verifiable by a third party, not only by the learner's verify(). The PII set is
generated here from a seed (_pii_gen.py). The crash check kills a child process that appends
in a loop (_writer_child.py, run in the learner's sandbox). Real model calls go through
workbench.llm.chat (two, short); the "scripted" check drives litellm's own mock_response (no
server) for an output full of PII and a failing call, which a 135M model cannot be made to
produce on cue.

Engine v2: learner code runs in a sandboxed worker, so the callback, the model calls it must
see and the concurrent appends all run there (driven through `learner_module`); log files live
in a folder both sides see (`work_dir`), and datetimes are made in the worker (they are not
data on the wire).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from _chain import GENESIS, complete_lines, digest, dumps, first_bad, read, rehash
from _pii_gen import KINDS, Generator, score

from workbench.core.worker import WorkerConfig
from workbench.grader_plugin import call_learner

HERE = Path(__file__).resolve().parent
RECALL_MIN = 0.99
PRECISION_MIN = 0.95
UTC = timezone.utc


@pytest.fixture
def work_dir(request) -> Path:
    """A fresh folder that the grader and the learner's sandboxed code both see (inside the
    worker's private temporary folder; pytest's tmp_path is hidden from the sandbox)."""
    path = WorkerConfig().private_tmp / "grader" / re.sub(r"\W+", "_", request.node.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _open_log(learner, path: Path):
    try:
        return learner.AuditLog(str(path))
    except NotImplementedError as exc:
        pytest.fail(f"AuditLog is not implemented yet ({exc})", pytrace=False)


_call = call_learner

def _in_worker(learner_module, moment: datetime):
    """The same aware datetime, made in the learner's worker (a datetime is not data on the wire:
    learner code gets a handle to this one there)."""
    return learner_module("datetime").datetime.fromisoformat(moment.isoformat())


def _entry(rng: random.Random, i: int, payload: int = 0) -> dict:
    return {
        "event": "test", "n": i, "user": rng.choice(["alice", "bob", "zoë"]), "model": "unit-test",
        "input": [{"role": "user", "content": f"question {i} – naïve café"}], "output": f"answer {rng.random():.6f}",
        "tokens": {"prompt": rng.randint(1, 99), "completion": rng.randint(1, 99)}, "filters": {},
        "score": round(rng.random(), 4), "payload": "x" * payload,
    }


def _spec_log(path: Path, n: int, rng: random.Random, start: datetime | None = None) -> list[dict]:
    """A log written by the grader itself, exactly as the README specifies it."""
    records, previous = [], GENESIS
    moment = start or datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    for i in range(n):
        record = _entry(rng, i)
        record.update(seq=i, ts=(moment + timedelta(minutes=37 * i)).isoformat(), prev_hash=previous)
        record = rehash(record)
        previous = record["hash"]
        records.append(record)
    path.write_bytes(b"".join(dumps(r) for r in records))
    return records


def _verify(learner, path: Path):
    return _call("AuditLog.verify()", _open_log(learner, path).verify)


# -- the chain ----------------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=2, hint=1, required=True)
def test_chain_links_and_hashes(learner, learner_module, work_dir, seed, record_metric):
    """Appended records form a hash chain a third party can verify, across reopening and threads"""
    rng = random.Random(seed)
    path = work_dir / "audit.jsonl"
    log = _open_log(learner, path)
    entries = [_entry(rng, i) for i in range(20)]
    returned = [_call("AuditLog.append()", log.append, e) for e in entries]
    log = _open_log(learner, path)  # a new process would start like this
    returned += [_call("AuditLog.append()", log.append, _entry(rng, i)) for i in range(20, 25)]
    records = read(path)
    record_metric("records", len(records))
    assert len(records) == 25, f"25 appends left {len(records)} complete lines in the file"
    for i, (entry, record) in enumerate(zip(entries, records, strict=False)):
        assert isinstance(record, dict), f"line {i} is not a JSON object"
        missing = [k for k, v in entry.items() if record.get(k) != v]
        assert not missing, f"record {i} lost or changed the fields {missing} of the entry it was given"
    for field in ("seq", "ts", "prev_hash", "hash"):
        assert all(isinstance(r, dict) and field in r for r in records), f"every record needs a '{field}' field"
    assert [r["seq"] for r in records] == list(range(25)), "seq must count 0, 1, 2, ... in file order, across reopening"
    assert records[0]["prev_hash"] == GENESIS, "record 0's prev_hash must be GENESIS ('0' * 64)"
    bad = first_bad(records)
    if bad is not None:
        r = records[bad]
        why = ("its hash is not SHA-256 of the canonical JSON of the record without 'hash'" if r.get("hash") != digest(r)
               else "its prev_hash is not the previous record's hash")
        pytest.fail(f"the grader's own verification fails at record {bad}: {why}", pytrace=False)
    assert all(isinstance(r, dict) and r.get("hash") == records[i]["hash"] for i, r in enumerate(returned)), (
        "append() must return the record as written (with seq, ts, prev_hash and hash)")
    moment = datetime.fromisoformat(records[0]["ts"])
    assert moment.tzinfo is not None, f"ts must be an ISO-8601 time with a UTC offset, got {records[0]['ts']!r}"
    assert _call("AuditLog.records()", _open_log(learner, path).records) == records, "records() must return every record"
    assert _verify(learner, path) is None, "verify() must return None for an untouched log"

    threaded = work_dir / "threads.jsonl"
    shared = _open_log(learner, threaded)
    errors: list[str] = []
    entries = [_entry(local, i, payload=16384) for local in (random.Random(k) for k in range(8)) for i in range(30)]
    # 8 threads share one AuditLog; they run in the learner's worker, where the object lives
    pool = learner_module("concurrent.futures").ThreadPoolExecutor(max_workers=8)
    try:
        learner_module("collections").deque(pool.map(shared.append, entries), maxlen=0)  # drained there
    except Exception as exc:  # noqa: BLE001 - reported below
        errors.append(f"{getattr(exc, 'type_name', type(exc).__name__)}: {exc}")
    finally:
        pool.shutdown(wait=True)
    records = read(threaded)
    record_metric("threaded_records", len(records))
    assert not errors, f"append() raised under concurrent use: {errors[0]}"
    assert len(records) == 240 and first_bad(records) is None, (
        f"8 threads x 30 appends to one AuditLog: {len(records)} records, chain breaks at {first_bad(records)}; "
        "litellm calls callbacks from a thread pool, so append() needs a lock")


# -- tampering ------------------------------------------------------------------------------------

def _tamper_cases(n: int, rng: random.Random) -> list[tuple[str, object, int | None]]:
    """(description, transformation of the record list, expected first bad index)."""
    cases: list[tuple[str, object, int | None]] = []

    def edit(k):
        def f(rs):
            rs[k] = {**rs[k], "output": rs[k]["output"] + " (amended)"}
        return f

    def edit_rehash(k):
        def f(rs):
            rs[k] = rehash({**rs[k], "user": "mallory"})
        return f

    def delete(k):
        def f(rs):
            del rs[k]
        return f

    def insert(k, j):
        def f(rs):
            rs.insert(k, dict(rs[j]))
        return f

    def swap(k):
        def f(rs):
            rs[k], rs[k + 1] = rs[k + 1], rs[k]
        return f

    def garbage(k):
        def f(rs):
            rs[k] = "#garbage#"
        return f

    def relink(k):
        def f(rs):
            rs[k] = rehash({**rs[k], "prev_hash": hashlib.sha256(b"forged").hexdigest()})
        return f

    for k in (0, n - 1, rng.randrange(1, n - 1)):
        cases.append((f"record {k} edited", edit(k), k))
    for k in (0, rng.randrange(1, n - 2)):
        cases.append((f"record {k} edited and its hash recomputed (the link to it breaks)", edit_rehash(k), k + 1))
    for k in (0, rng.randrange(1, n - 2), rng.randrange(1, n - 2)):
        cases.append((f"record {k} deleted", delete(k), k))
    for k in (rng.randrange(1, n // 2), rng.randrange(n // 2, n - 1)):
        j = (k + n // 3) % n
        cases.append((f"a copy of record {j} inserted at {k}", insert(k, j), k))
    for k in (0, rng.randrange(1, n - 2)):
        cases.append((f"records {k} and {k + 1} swapped", swap(k), k))
    k = rng.randrange(1, n - 1)
    cases.append((f"line {k} overwritten with garbage", garbage(k), k))
    k = rng.randrange(1, n - 1)
    cases.append((f"record {k} given a forged prev_hash and a matching hash", relink(k), k))
    cases.append(("nothing changed but key order and spacing (same content)", None, None))
    return cases


@pytest.mark.check(skill="security-governance", points=3, hint=1, required=True)
def test_tampering_detected_at_exact_index(learner, work_dir, seed, record_metric):
    """An edited, deleted, inserted or reordered record is reported at its exact index"""
    rng = random.Random(seed + 1)
    n = 30
    clean = work_dir / "clean.jsonl"
    original = _spec_log(clean, n, rng)
    got = _verify(learner, clean)
    assert got is None, f"verify() returned {got} for a log written exactly as the README specifies; expected None"
    wrong = []
    cases = _tamper_cases(n, rng)
    for i, (what, change, expected) in enumerate(cases):
        path = work_dir / f"tampered-{i}.jsonl"
        records = [dict(r) for r in original]
        if change is None:  # re-serialised: reversed key order, spaces; the canonical JSON is unchanged
            data = b"".join(json.dumps(dict(reversed(list(r.items()))), ensure_ascii=True).encode() + b"\n" for r in records)
        else:
            change(records)
            data = b"".join(r.encode() + b"\n" if isinstance(r, str) else dumps(r) for r in records)
        path.write_bytes(data)
        result = _verify(learner, path)
        if result != expected:
            wrong.append(f"{what}: verify() returned {result!r}, expected {expected!r}")
    record_metric("cases", len(cases))
    record_metric("detected_exactly", len(cases) - len(wrong))
    assert not wrong, f"{len(wrong)} of {len(cases)} tampering cases misreported: " + "; ".join(wrong[:3])


# -- crashes --------------------------------------------------------------------------------------

@pytest.mark.check(skill="data-engineering", points=1, hint=3, required=True)
def test_torn_tail_tolerated_and_repaired(learner, work_dir, seed, record_metric):
    """A torn last line is ignored by readers and cut off by the next append"""
    rng = random.Random(seed + 2)
    for variant, keep in (("half a record", 0.5), ("three bytes of a record", None)):
        path = work_dir / f"torn-{keep}.jsonl"
        records = _spec_log(path, 10, rng)
        extra = dict(records[-1], seq=10, prev_hash=records[-1]["hash"])
        line = dumps(rehash(extra))
        fragment = line[: len(line) // 2] if keep else line[:3]
        with open(path, "ab") as handle:
            handle.write(fragment)
        log = _open_log(learner, path)
        seen = _call("AuditLog.records()", log.records)
        assert len(seen) == 10, f"with {variant} torn at the end, records() returned {len(seen)} records, expected 10"
        assert _call("AuditLog.verify()", log.verify) is None, f"with {variant} torn at the end, verify() must return None"
        written = _call("AuditLog.append()", _open_log(learner, path).append, _entry(rng, 10))
        after = read(path)
        assert len(after) == 11 and first_bad(after) is None, (
            f"after appending to a log ending in {variant}, the file holds {len(after)} records and breaks at "
            f"{first_bad(after)}; the next append must cut the fragment off first")
        assert written.get("seq") == 10 and written.get("prev_hash") == records[-1]["hash"], (
            "the first record after a torn tail must continue the chain from the last complete record")
        assert path.read_bytes().endswith(b"\n") and path.read_bytes().count(b"\n") == 11, "the fragment is still in the file"
    record_metric("variants", 2)


def _run_writer(learner_process, path: Path, seed: int, rng: random.Random) -> int:
    """Start the child in the learner's sandbox, let it ack a few records, SIGKILL it at a random
    moment; returns acks. (The child's pid is the sandbox's: killing it kills the writer too.)"""
    source = (HERE / "_writer_child.py").read_text(encoding="utf-8")  # graders/ is hidden from the sandbox
    child = learner_process([sys.executable, "-c", source, str(path), str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acks: list[str] = []
    reader = threading.Thread(target=lambda: acks.extend(iter(child.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 15
    while len(acks) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if child.poll() is None:
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    reader.join(timeout=10)  # EOF on its stdout: the writer itself is gone, not only the sandbox around it
    if reader.is_alive():
        pytest.fail("the writer process kept running after SIGKILL", pytrace=False)
    if child.returncode != -signal.SIGKILL:
        error = (child.stderr.read() or "").strip().splitlines()
        pytest.fail(f"the writer process stopped by itself (exit {child.returncode}): {error[-1] if error else ''}",
                    pytrace=False)
    child.stderr.close()
    if len(acks) < 3:
        pytest.fail("the writer process did not append 3 records within 15 s", pytrace=False)
    return len(acks)


@pytest.mark.check(skill="data-engineering", points=2, hint=3, required=True)
def test_killed_writer_leaves_verifiable_log(learner, learner_process, work_dir, seed, record_metric):
    """A writer killed mid-write (SIGKILL, five times) leaves a log that verifies up to its last complete record"""
    rng = random.Random(seed + 3)
    path = work_dir / "crash.jsonl"
    acked = torn = 0
    for round_ in range(5):
        before = len(read(path))
        acks = _run_writer(learner_process, path, seed + round_, rng)
        acked += acks
        data = path.read_bytes()
        torn += not data.endswith(b"\n")
        records = read(path)
        bad = first_bad(records)
        if bad is not None:
            why = ("it is not valid JSON: a torn line left by an earlier kill was written onto instead of cut off"
                   if not isinstance(records[bad], dict) else "its seq, prev_hash or hash is wrong")
            pytest.fail(f"after kill {round_ + 1} the grader's verification fails at record {bad} of {len(records)}: {why}",
                        pytrace=False)
        got = _verify(learner, path)
        assert got is None, f"after kill {round_ + 1} verify() returned {got}; expected None (a torn tail is not an error)"
        added = len(records) - before
        assert acks <= added <= acks + 1, (
            f"kill {round_ + 1}: {acks} appends had returned but the log gained {added} complete records")
    _call("AuditLog.append()", _open_log(learner, path).append, _entry(rng, 0))
    records = read(path)
    record_metric("kills", 5)
    record_metric("acked_appends", acked)
    record_metric("records", len(records))
    record_metric("torn_tails_seen", torn)
    assert first_bad(records) is None and _verify(learner, path) is None, (
        f"after the last restart and one more append the log breaks at record {first_bad(records)}")


# -- PII ------------------------------------------------------------------------------------------

def _checked_spans(text: str, spans) -> list[tuple[str, int, int]]:
    out = []
    for span in spans:
        if not (isinstance(span, tuple | list) and len(span) == 3):
            pytest.fail(f"find_pii must return (kind, start, end) tuples, got {span!r}", pytrace=False)
        kind, start, end = span
        if kind not in KINDS or not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            pytest.fail(f"find_pii returned {span!r} for a text of {len(text)} characters; kinds are {KINDS}", pytrace=False)
        out.append((kind, start, end))
    if any(b[1] < a[2] for a, b in zip(out, out[1:], strict=False)):
        pytest.fail(f"find_pii must return spans sorted by start and not overlapping, got {out}", pytrace=False)
    return out


@pytest.mark.check(skill="security-governance", points=3, hint=2, required=True)
def test_pii_redaction_recall_precision(learner, seed, record_metric):
    """PII redaction: recall >= 0.99 and precision >= 0.95 on a generated set with Luhn and IBAN decoys"""
    cases = {"4111 1111 1111 1111": True, "4111-1111-1111-1112": False, "378282246310005": True, "79927398713": True}
    for number, valid in cases.items():
        assert _call("luhn_valid()", learner.luhn_valid, number) is valid, f"luhn_valid({number!r}) should be {valid}"
    ibans = {"DE89 3704 0044 0532 0130 00": True, "GB82WEST12345698765432": True, "DE88 3704 0044 0532 0130 00": False,
             "NL91ABNA0417164300": True, "NL91ABNA0417164301": False}
    for iban, valid in ibans.items():
        assert _call("iban_valid()", learner.iban_valid, iban) is valid, f"iban_valid({iban!r}) should be {valid}"
    gen = Generator(seed + 7)
    generated = [(gen.card(), True) for _ in range(15)] + [(gen.decoy_card(), False) for _ in range(15)]
    wrong = [number for number, valid in generated if _call("luhn_valid()", learner.luhn_valid, number) is not valid]
    assert not wrong, f"luhn_valid is wrong on generated numbers {wrong[:3]} (valid ones pass Luhn, decoys fail by one digit)"
    generated = [(gen.iban(), True) for _ in range(15)] + [(gen.decoy_iban(), False) for _ in range(15)]
    wrong = [iban for iban, valid in generated if _call("iban_valid()", learner.iban_valid, iban) is not valid]
    assert not wrong, (f"iban_valid is wrong on generated IBANs {wrong[:3]} (10 countries; decoys have a wrong check "
                       "number): check each country's length and mod 97")

    samples = Generator(seed).samples(400)
    started = time.perf_counter()
    result = score(samples, lambda text: _checked_spans(text, _call("find_pii()", learner.find_pii, text)))
    record_metric("seconds", round(time.perf_counter() - started, 3))
    record_metric("recall", round(result["recall"], 4))
    record_metric("precision", round(result["precision"], 4))
    record_metric("pii_items", result["gold"])
    record_metric("decoys", result["decoys"])
    record_metric("decoys_redacted", result["decoys_redacted"])
    for kind, value in result["per_kind_recall"].items():
        record_metric(f"recall_{kind}", round(value, 4))
    assert result["recall"] >= RECALL_MIN, (
        f"recall {result['recall']:.3f} over {result['gold']} PII items, needs >= {RECALL_MIN}; "
        f"per kind {result['per_kind_recall']}; missed e.g. {result['misses'][:3]}")
    assert result["precision"] >= PRECISION_MIN, (
        f"precision {result['precision']:.3f} over {result['predicted']} redactions, needs >= {PRECISION_MIN}; "
        f"{result['decoys_redacted']} of {result['decoys']} checksum decoys redacted; wrong e.g. {result['false_alarms'][:3]}")

    placeholders = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]", "iban": "[IBAN]"}
    for sample in samples[:60]:
        spans = _checked_spans(sample.text, learner.find_pii(sample.text))
        expected, last, counts = "", 0, {}
        for kind, start, end in spans:
            expected += sample.text[last:start] + placeholders[kind]
            counts[kind] = counts.get(kind, 0) + 1
            last = end
        expected += sample.text[last:]
        got = _call("redact()", learner.redact, sample.text)
        assert isinstance(got, tuple) and len(got) == 2, "redact(text) must return (redacted_text, counts)"
        assert got[0] == expected, f"redact({sample.text!r}) returned {got[0]!r}, expected {expected!r}"
        assert {k: v for k, v in got[1].items() if v} == counts, f"redact() counts {got[1]} but replaced {counts}"


# -- export ---------------------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=2, hint=2, required=True)
def test_export_time_range(learner, learner_module, work_dir, seed, record_metric):
    """export(start, end) writes exactly the records in [start, end), verifiable on their own, with a manifest"""
    rng = random.Random(seed + 4)
    base = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    path = work_dir / "audit.jsonl"
    log = _open_log(learner, path)
    for i in range(60):
        _call("AuditLog.append()", log.append, {**_entry(rng, i), "ts": (base + timedelta(minutes=37 * i)).isoformat()})
    full = read(path)
    log_lines = complete_lines(path)
    assert len(full) == 60 and first_bad(full) is None, "the log written for this check does not verify (see the chain check)"
    at = [datetime.fromisoformat(r["ts"]) for r in full]
    plus2 = timezone(timedelta(hours=2))
    ranges = [(at[12], at[31], range(12, 31)), (at[0], at[5], range(0, 5)),
              (at[40].astimezone(plus2), (at[47] + timedelta(seconds=1)).astimezone(plus2), range(40, 48)),
              (base - timedelta(days=2), base - timedelta(days=1), range(0))]
    for k, (start, end, expected) in enumerate(ranges):
        out = work_dir / f"slice-{k}.jsonl"
        manifest = _call("AuditLog.export()", log.export, _in_worker(learner_module, start), _in_worker(learner_module, end),
                         str(out))
        what = f"export({start.isoformat()}, {end.isoformat()})"
        assert out.is_file(), f"{what} wrote no file at the given path"
        lines = complete_lines(out)
        records = read(out)
        seqs = [r.get("seq") for r in records if isinstance(r, dict)]
        assert seqs == list(expected), (
            f"{what} exported {len(seqs)} records (seq {seqs[:1]}..{seqs[-1:]}), expected {len(expected)} (seq "
            f"{list(expected)[:1]}..{list(expected)[-1:]}); wrongly in or out: "
            f"{sorted(set(seqs) ^ set(expected), key=str)} (start <= ts < end, on aware datetimes)")
        assert records == full[expected.start:expected.stop], f"{what}: exported records differ from the log's"
        assert out.read_bytes() == b"".join(line + b"\n" for line in log_lines[expected.start:expected.stop]), (
            f"{what}: the exported lines must be the log's lines, byte for byte (copy them, do not re-serialise)")
        assert isinstance(manifest, dict), "export() must return the manifest (a dict)"
        side = Path(str(out) + ".manifest.json")
        assert side.is_file() and json.loads(side.read_text()) == manifest, (
            "export() must also write the manifest to <path>.manifest.json")
        want = {"count": len(expected), "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
                "first_seq": expected.start if expected else None, "last_seq": expected.stop - 1 if expected else None,
                "anchor_hash": (full[expected.start]["prev_hash"] if expected else None),
                "last_hash": full[expected.stop - 1]["hash"] if expected else None,
                "log_count": 60, "log_head_hash": full[-1]["hash"]}
        wrong = {key: manifest.get(key) for key, value in want.items() if manifest.get(key) != value}
        assert not wrong, f"{what}: manifest fields {wrong} do not match; expected { {k: want[k] for k in wrong} }"
        if expected:
            assert first_bad(records, anchor=manifest["anchor_hash"], first_seq=expected.start) is None, (
                f"{what}: the slice does not verify on its own from anchor_hash")
        assert len(lines) == len(expected)
    tampered = work_dir / "tampered.jsonl"
    rows = [dict(r) for r in full]
    rows[40]["output"] = "rewritten"
    tampered.write_bytes(b"".join(dumps(r) for r in rows))
    with pytest.raises(ValueError):
        _open_log(learner, tampered).export(_in_worker(learner_module, at[0]), _in_worker(learner_module, at[59]),
                                            str(work_dir / "never.jsonl"))
    record_metric("ranges", len(ranges))


# -- the litellm callback -------------------------------------------------------------------------

def _wait_for(log_path: Path, n: int, timeout_s: float = 15.0) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = read(log_path)
        if len(records) >= n:
            time.sleep(0.2)  # anything extra would show up now
            return read(log_path)
        time.sleep(0.05)
    return read(log_path)


@contextlib.contextmanager
def _as_user(learner_module, callback, user: str) -> Iterator[None]:
    """`with callback.as_user(user):` entered in the learner's worker (its context variable is
    set in the worker's thread, where the model calls of the block are made)."""
    stack = learner_module("contextlib").ExitStack()
    stack.enter_context(callback.as_user(user))
    try:
        yield
    finally:
        stack.close()


def _raw_values(*values: str) -> list[str]:
    out = []
    for value in values:
        out += [value, value.replace(" ", ""), "".join(c for c in value if c.isalnum())]
    return sorted(set(out), key=len, reverse=True)


def _model_names(litellm_model: str) -> set[str]:
    """What litellm passes a callback as kwargs["model"] for a backend model ("openai/smollm2" ->
    "smollm2"), and the full name; a record's model must be one of the two, exactly."""
    return {litellm_model, litellm_model.split("/", 1)[-1]}


def _nonzero(filters) -> dict:
    return {k: v for k, v in (filters or {}).items() if v} if isinstance(filters, dict) else {"(not a dict)": filters}


def _add_counts(total: dict, more: dict) -> None:
    for kind, n in more.items():
        if n:
            total[kind] = total.get(kind, 0) + n


@pytest.mark.check(skill="mlops", points=2, hint=3, required=True)
def test_real_model_calls_are_logged(learner, learner_module, llm, work_dir, seed, record_metric):
    """Real model calls through workbench.llm.chat are logged: call_id, user, model, status, every input string and the output redacted, tokens, filter counts"""
    from workbench.llm import resolve_backend

    backend_model = resolve_backend().litellm_model  # `llm` made sure the backend answers
    callback = learner_module("audit_callback")
    # the learner's callback is registered in the worker's litellm: the calls are made there too
    worker_llm, worker_calllog = learner_module("workbench.llm"), learner_module("workbench.llm.calllog")
    gen = Generator(seed + 5)
    email, card, phone, iban, desk = gen.email(), gen.card(), gen.phone(), gen.iban(), gen.phone()
    path = work_dir / "calls.jsonl"
    calls = [
        ("auditor-7", [{"role": "system", "content": f"Answer in one short sentence. Escalations go to {desk}."},
                       {"role": "user", "content": f"My email is {email}, my card number is {card}, call me at {phone}, "
                                                   f"refunds go to IBAN {iban}. Reply with OK."}]),
        ("analyst-2", [{"role": "user", "content": "Name one colour."}]),
    ]
    logger = _call("audit_callback.install()", callback.install, _open_log(learner, path))
    replies, call_ids = [], []
    started = time.perf_counter()
    try:
        for user, messages in calls:
            with _as_user(learner_module, callback, user):
                replies.append(worker_llm.chat(messages, max_tokens=8))
            call_ids.append(worker_calllog.records()[-1].call_id)
        records = _wait_for(path, len(calls))
    finally:
        callback.uninstall(logger)
    record_metric("model_calls", len(calls))
    record_metric("seconds", round(time.perf_counter() - started, 1))
    record_metric("records", len(records))
    errors = getattr(logger, "errors", None)
    assert len(records) == len(calls), (
        f"{len(calls)} model calls produced {len(records)} records within 15 s"
        + (f"; the callback raised: {errors[0]}" if errors else " (litellm hides exceptions raised in callbacks)"))
    assert first_bad(records) is None and _verify(learner, path) is None, "the call log's chain does not verify"
    by_id = {r.get("call_id"): r for r in records if isinstance(r, dict)}
    assert set(call_ids) <= set(by_id), (
        f"each record must carry its call's kwargs['litellm_call_id'] as call_id; the calls were {call_ids}, the records "
        f"say {sorted(map(str, by_id))}")
    for (user, messages), reply, call_id in zip(calls, replies, call_ids, strict=True):
        record = by_id[call_id]
        where = f"record of the call by {user}"
        assert record.get("user") == user, f"{where}: user is {record.get('user')!r}, expected {user!r} (as_user)"
        assert record.get("status") == "ok", f"{where}: status is {record.get('status')!r}, expected 'ok'"
        assert record.get("model") in _model_names(backend_model), (
            f"{where}: model is {record.get('model')!r}, expected the model called: {sorted(_model_names(backend_model))}")
        tokens = record.get("tokens") or {}
        assert (tokens.get("prompt"), tokens.get("completion"), tokens.get("total")) == (
            reply.prompt_tokens, reply.completion_tokens, reply.total_tokens), (
            f"{where}: tokens {tokens} but the call used prompt={reply.prompt_tokens}, completion={reply.completion_tokens}")
        expected_filters: dict = {}
        expected_input = []
        for message in messages:
            text, counts = _call("redact()", learner.redact, message["content"])
            _add_counts(expected_filters, counts)
            expected_input.append({**message, "content": text})
        expected_output, counts = _call("redact()", learner.redact, reply.content or "")
        _add_counts(expected_filters, counts)
        sent = record.get("input")
        assert isinstance(sent, list) and [m.get("role") for m in sent] == [m["role"] for m in messages], (
            f"{where}: input must be the list of messages sent (roles {[m['role'] for m in messages]})")
        for got, want in zip(sent, expected_input, strict=True):
            assert got.get("content") == want["content"], (
                f"{where}: the logged {want['role']} message is {got.get('content')!r}, expected every string redacted: "
                f"{want['content']!r}")
        assert record.get("output") == expected_output, (
            f"{where}: output is {record.get('output')!r}, expected the redacted reply {expected_output!r}")
        assert _nonzero(record.get("filters")) == expected_filters, (
            f"{where}: filters {record.get('filters')} must count every redaction of the call, input and output: "
            f"{expected_filters}")
        assert "confidence" in record and (record["confidence"] is None or 0.0 <= record["confidence"] <= 1.0), (
            f"{where}: every record needs a confidence field (null when the reply carries no logprobs), got "
            f"{record.get('confidence', '(missing)')!r}")
    text = path.read_text(encoding="utf-8")
    leaked = [v for v in _raw_values(email, card, phone, iban, desk) if v in text]
    assert not leaked, f"raw PII reached the log file: {leaked[0]!r}"


def _mock_reply(rng: random.Random, content: str) -> tuple[dict, float]:
    """A chat completion as a hosted backend returns it, with per-token logprobs and usage, for
    litellm's mock_response; and the confidence it implies: exp(mean logprob)."""
    logprobs = [round(-rng.uniform(0.0, 2.5), 4) for _ in range(rng.randint(4, 12))]
    usage = {"prompt_tokens": rng.randint(12, 90), "completion_tokens": len(logprobs)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    reply = {"id": f"chatcmpl-{rng.randint(10**6, 10**7)}", "object": "chat.completion", "created": 1, "model": "smollm2",
             "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content},
                          "logprobs": {"content": [{"token": f"t{i}", "logprob": lp, "bytes": None, "top_logprobs": []}
                                                   for i, lp in enumerate(logprobs)]}}],
             "usage": usage}
    return reply, math.exp(sum(logprobs) / len(logprobs))


@pytest.mark.check(skill="mlops", points=2, hint=3, required=True)
def test_scripted_output_and_failures_are_logged(learner, learner_module, work_dir, seed, record_metric):
    """A reply full of PII, a reply with logprobs (confidence) and a failed call are each logged, redacted, with status, tokens and filters (scripted: litellm mock_response, no server)"""
    callback = learner_module("audit_callback")
    litellm = learner_module("workbench.llm.client").load_litellm()  # the worker's litellm, where the callback is
    rng = random.Random(seed + 6)
    gen = Generator(seed + 6)
    email, card, iban, phone = gen.email(), gen.card(), gen.iban(), gen.phone()
    reply, confidence = _mock_reply(rng, f"On file: {email}, card {card}, IBAN {iban}.")
    user = f"scripted-{rng.randint(100, 999)}"
    path = work_dir / "scripted.jsonl"
    logger = _call("audit_callback.install()", callback.install, _open_log(learner, path))
    try:
        with _as_user(learner_module, callback, user):
            litellm.completion(model="openai/smollm2", messages=[{"role": "user", "content": f"What is on file for {phone}?"}],
                               mock_response=reply)
            litellm.completion(model="openai/smollm2", messages=[{"role": "user", "content": "Any news?"}],
                               mock_response="Nothing new.")
            failure = learner_module("builtins").Exception(f"upstream refused the request from {email}")  # made there
            with pytest.raises(Exception):  # noqa: B017, PT011 - any failure; the log is what is checked
                litellm.completion(model="openai/smollm2", messages=[{"role": "user", "content": f"Forward to {email}"}],
                                   mock_response=failure)
        records = _wait_for(path, 3)
    finally:
        callback.uninstall(logger)
    record_metric("records", len(records))
    assert len(records) == 3, (f"two successful calls and a failed one produced {len(records)} records, expected 3 "
                               "(log_failure_event must write a record too)")
    assert first_bad(records) is None, "the chain does not verify"
    statuses = sorted(str(r.get("status")) for r in records if isinstance(r, dict))
    assert statuses == ["error", "ok", "ok"], f"statuses are {statuses}; expected 'ok' twice and 'error' for the failed call"
    ok = next((r for r in records if r.get("status") == "ok" and "[CARD]" in str(r.get("output"))), None)
    plain = next((r for r in records if r.get("status") == "ok" and r is not ok), None)
    failed = next(r for r in records if r.get("status") == "error")
    assert ok is not None, f"the reply must be logged redacted as 'On file: [EMAIL], card [CARD], IBAN [IBAN].'; got {records}"
    assert ok.get("output") == "On file: [EMAIL], card [CARD], IBAN [IBAN].", (
        f"the reply must be logged redacted; output is {ok.get('output')!r}")
    assert ok.get("input") == [{"role": "user", "content": "What is on file for [PHONE]?"}], (
        f"the input must be logged redacted; it is {ok.get('input')!r}")
    assert _nonzero(ok.get("filters")) == {"card": 1, "email": 1, "iban": 1, "phone": 1}, (
        f"filters {ok.get('filters')} must count the redactions of the input (1 phone) and the output (email, card, iban)")
    usage = reply["usage"]
    tokens = ok.get("tokens") or {}
    assert (tokens.get("prompt"), tokens.get("completion"), tokens.get("total")) == (
        usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]), (
        f"tokens are {tokens}; the reply's usage was {usage}")
    got = ok.get("confidence")
    record_metric("confidence", got)
    assert isinstance(got, int | float) and abs(got - confidence) <= 1e-4, (
        f"the reply carried logprobs {[t['logprob'] for t in reply['choices'][0]['logprobs']['content']]}: confidence must be "
        f"exp(mean logprob) = {confidence:.6f}, got {got!r}")
    assert ok.get("user") == user and isinstance(ok.get("call_id"), str) and ok["call_id"], (
        f"each record needs user ({user!r}) and call_id (kwargs['litellm_call_id']); got {ok.get('user')!r}, "
        f"{ok.get('call_id')!r}")
    assert ok.get("model") in _model_names("openai/smollm2"), f"model is {ok.get('model')!r}, expected 'smollm2'"
    assert plain is not None and "confidence" in plain and plain["confidence"] is None, (
        f"a reply without logprobs must be logged with confidence null, got {None if plain is None else plain.get('confidence', '(missing)')!r}")
    assert _nonzero(plain.get("filters")) == {}, f"nothing was redacted in the second call, yet filters say {plain.get('filters')}"
    assert failed.get("user") == user and isinstance(failed.get("call_id"), str) and failed["call_id"], (
        "the failed call's record needs its user and call_id too")
    assert failed.get("input") == [{"role": "user", "content": "Forward to [EMAIL]"}], (
        f"the failed call's input must be logged redacted; it is {failed.get('input')!r}")
    assert _nonzero(failed.get("filters")).get("email", 0) >= 1, f"the failed call's filters {failed.get('filters')} miss its email"
    text = path.read_text(encoding="utf-8")
    leaked = [v for v in _raw_values(email, card, iban, phone) if v in text]
    assert not leaked, f"raw PII reached the log file: {leaked[0]!r}"
