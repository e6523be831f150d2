"""The data-only wire: what crosses, what never does (no object of the other side's making)."""

from __future__ import annotations

import dataclasses
import threading
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from workbench.core.wire import Endpoint, Record, Ref, RemoteError, socketpair


class _Worker(Endpoint):
    def perform(self, op, target, name, args, kwargs):
        if target == 0 and op == "import":
            return {"echo": lambda x: x, "boom": _boom, "Point": Point, "evil": Evil, "Pair": Pair,
                    "call_back": lambda fn, x: fn(x), "Box": Box, "gen": lambda n: (i * i for i in range(n))}[name]
        return super().perform(op, target, name, args, kwargs)


@dataclasses.dataclass
class Point:
    x: float
    y: float

    def norm(self) -> float:
        return (self.x ** 2 + self.y ** 2) ** 0.5


Pair = namedtuple("Pair", "a b")


class Evil(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class Box:
    def __init__(self):
        self.items = []

    def add(self, item):
        self.items.append(item)
        return len(self.items)

    def __eq__(self, other):
        return True


def _boom(message):
    raise KeyError(message)


@pytest.fixture
def wire():
    a, b = socketpair()
    worker = _Worker(b)
    worker.rebuild_errors = True
    thread = threading.Thread(target=worker.serve_forever, daemon=True)
    thread.start()
    grader = Endpoint(a, strict=True)
    yield lambda name: grader.request("import", 0, name, (), {})
    a.close()


def test_plain_data_and_arrays_cross_by_value(wire) -> None:
    echo = wire("echo")
    value = {"s": "x", "i": 3, "f": 1.5, "none": None, "list": [1, (2, 3)], "set": {1, 2}, "b": b"\x00\x01",
             "nan": float("nan"), 4: "int key"}
    back = echo(value)
    assert back["list"] == [1, (2, 3)] and back["set"] == {1, 2} and back["b"] == b"\x00\x01" and back[4] == "int key"
    assert back["nan"] != back["nan"]
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = echo(array)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and np.array_equal(got, array)


def test_records_are_read_only_fields_with_methods_on_the_other_side(wire) -> None:
    point = wire("Point")(3.0, 4.0)
    assert isinstance(point, Record) and point.x == 3.0 and point.norm() == 5.0
    with pytest.raises(AttributeError):
        point.x = 1
    pair = wire("Pair")(1, 2)
    assert pair == (1, 2) and pair.a == 1 and pair[1] == 2


def test_a_learner_object_cannot_forge_equality_or_numbers(wire) -> None:
    evil = wire("evil")(0.0)
    assert type(evil) is float and evil != 1.0  # the subclass's __eq__ stayed behind
    box = wire("Box")()
    assert isinstance(box, Ref) and box != box.__class__ and box != 42 and box == box
    assert box.add("a") == 1 and box.items == ["a"]
    with pytest.raises(TypeError):
        float(box)


def test_exceptions_arrive_as_data_with_the_builtin_base(wire) -> None:
    with pytest.raises(KeyError) as caught:
        wire("boom")("missing")
    assert isinstance(caught.value, RemoteError) and caught.value.type_name == "KeyError"
    assert "_boom" in caught.value.remote_traceback


def test_callbacks_run_on_the_grader_side_and_generators_iterate(wire) -> None:
    calls = []

    def double(x):
        calls.append(x)
        return x * 2

    assert wire("call_back")(double, 21) == 42 and calls == [21]
    assert list(wire("gen")(4)) == [0, 1, 4, 9]


def test_the_grader_side_refuses_private_names_and_setattr(wire, tmp_path: Path) -> None:
    class Counter:
        calls = 0

        def __call__(self, x):
            return x

    counter = Counter()
    a, b = socketpair()
    grader = Endpoint(a, strict=True)
    ref_id = grader._export(counter)
    learner_side = Endpoint(b)
    threading.Thread(target=grader.serve_forever, daemon=True).start()
    for op, name in (("getattr", "__globals__"), ("getattr", "__class__"), ("getattr", "_private"), ("setattr", "calls")):
        with pytest.raises(RemoteError) as caught:
            learner_side.request(op, ref_id, name, (5,) if op == "setattr" else (), {})
        assert caught.value.type_name == "PermissionError"
    assert counter.calls == 0
    assert learner_side.request("call", ref_id, None, (7,), {}) == 7
    b.close()
