"""Build throwaway data dirs (curricula + labs + graders) for tests of the engine itself."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TOY_LAB_TOML = """\
format_version = 1
id = "{lab_id}"
title = "Toy lab"
tags = ["foundations"]
phase = "foundations"
month = 1
topic = "advanced-python"
level = 1
estimated_minutes = 5
requires = {requires}
files = ["toy.py"]
pass_mark = 0.75
[skills]
programming = 2
ml-fundamentals = 1
[limits]
timeout_s = {timeout_s}
check_timeout_s = {check_timeout_s}
memory_mb = 1024
[[hints]]
text = "First hint: read the brief."
[[hints]]
text = "Second hint: add, do not subtract."
[[hints]]
text = "Third hint: return a + b."
"""

TOY_GRADER = '''\
import pytest


@pytest.mark.check(skill="programming", points=2, hint=2)
def test_add(learner, record_metric):
    """add() adds"""
    record_metric("add_2_2", learner.add(2, 2))
    assert learner.add(2, 2) == 4, f"add(2, 2) returned {learner.add(2, 2)}, needs 4"


@pytest.mark.check(skill="programming", points=1)
def test_greet(learner):
    """greet() greets by name"""
    assert learner.greet("Ada") == "Hello, Ada!"


@pytest.mark.check(skill="ml-fundamentals", points=1, hint=1)
def test_work(learner):
    """work() finishes"""
    assert learner.work() == "done"
'''

TOY_SOLUTION = '''\
def add(a, b):
    return a + b


def greet(name):
    return f"Hello, {name}!"


def work():
    return "done"
'''

TOY_STARTER = '''\
def add(a, b):
    return a - b


def greet(name):
    return f"Hello, {name}!"


def work():
    return "todo"
'''


def make_data_dir(root: Path, lab_ids: tuple[str, ...] = ("toy",), *, timeout_s: float = 30,
                  check_timeout_s: float = 10, requires: dict[str, list[str]] | None = None) -> Path:
    """A data dir whose curriculum lists only the given toy labs (under advanced-python)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "curricula", root / "curricula")
    curriculum = root / "curricula" / "ai-engineer-2026.toml"
    text = re.sub(r"labs = \[[^\]]*\]", "labs = []", curriculum.read_text())
    listed = ", ".join(f'"{lab_id}"' for lab_id in lab_ids)
    text = text.replace('id = "advanced-python"\n  title = "Advanced Python (OOP, async, scientific stack)"\n  labs = []',
                        f'id = "advanced-python"\n  title = "Advanced Python (OOP, async, scientific stack)"\n  labs = [{listed}]')
    curriculum.write_text(text)
    for lab_id in lab_ids:
        lab_dir = root / "labs" / lab_id
        (lab_dir / "starter").mkdir(parents=True)
        (lab_dir / "solution").mkdir()
        reqs = (requires or {}).get(lab_id, [])
        (lab_dir / "lab.toml").write_text(TOY_LAB_TOML.format(
            lab_id=lab_id, timeout_s=timeout_s, check_timeout_s=check_timeout_s, requires=repr(reqs).replace("'", '"')))
        (lab_dir / "README.md").write_text("# Toy lab\n\nMake `add` add.\n")
        (lab_dir / "starter" / "toy.py").write_text(TOY_STARTER)
        (lab_dir / "solution" / "toy.py").write_text(TOY_SOLUTION)
        grader = root / "graders" / lab_id
        grader.mkdir(parents=True)
        (grader / "test_toy.py").write_text(TOY_GRADER)
    return root


def write(path: Path, source: str) -> None:
    """Write dedented source code."""
    path.write_text(textwrap.dedent(source))


def clear_caches() -> None:
    """Forget cached curricula/labs/data root (after WORKBENCH_DATA_DIR changes)."""
    from workbench.core import curriculum, labs, resources, skills

    resources.data_root.cache_clear()
    curriculum.load_curriculum.cache_clear()
    labs.load_labs.cache_clear()
    skills.load_skill_matrix.cache_clear()


MODEL_LAB_TOML = """\
format_version = 1
id = "toy-llm"
title = "Toy model lab"
tags = ["foundations"]
phase = "foundations"
month = 1
topic = "advanced-python"
level = 1
estimated_minutes = 5
files = ["toy.py"]
needs = ["llm"]
pass_mark = 1.0
[skills]
generative-ai = 1
[limits]
timeout_s = 120
check_timeout_s = 60
memory_mb = 2048
llm_calls = 3
[[hints]]
text = "Call workbench.llm.chat."
[[hints]]
text = "Return the reply's content."
[[hints]]
text = "Mind the budget."
"""

MODEL_GRADER = '''\
import pytest


@pytest.mark.check(skill="generative-ai", points=1, required=True)
def test_answers(learner):
    """ask() returns the model's answer"""
    answer = learner.ask("Reply with the word hello.")
    assert isinstance(answer, str) and answer.strip(), f"ask() returned {answer!r}"


@pytest.mark.check(skill="generative-ai", points=1)
def test_stays_in_budget(learner):
    """ask_many() stays inside the call budget"""
    learner.ask_many(["one", "two", "three", "four"])
'''

MODEL_SOLUTION = '''\
from workbench.llm import chat


def ask(question):
    return chat([{"role": "user", "content": question}], max_tokens=8).content or "(empty)"


def ask_many(questions):
    answers = []
    for question in questions:
        try:
            answers.append(ask(question))
        except Exception as exc:  # swallowing the budget error must not help
            answers.append(str(exc))
    return answers
'''


def add_model_lab(root: Path) -> None:
    """Add 'toy-llm' (needs the model, 3 calls allowed) to a data dir made by make_data_dir."""
    curriculum = root / "curricula" / "ai-engineer-2026.toml"
    curriculum.write_text(curriculum.read_text().replace('labs = ["toy"]', 'labs = ["toy", "toy-llm"]', 1))
    lab_dir = root / "labs" / "toy-llm"
    (lab_dir / "starter").mkdir(parents=True)
    (lab_dir / "solution").mkdir()
    (lab_dir / "lab.toml").write_text(MODEL_LAB_TOML)
    (lab_dir / "README.md").write_text("# Toy model lab\n")
    (lab_dir / "starter" / "toy.py").write_text("def ask(q):\n    return ''\n\n\ndef ask_many(qs):\n    return []\n")
    (lab_dir / "solution" / "toy.py").write_text(MODEL_SOLUTION)
    grader = root / "graders" / "toy-llm"
    grader.mkdir(parents=True)
    (grader / "test_toy.py").write_text(MODEL_GRADER)
