"""The invariant for every shipped lab: the starter scores below the pass mark, the solution 100%."""

from __future__ import annotations

import pytest

from workbench.core.labs import load_labs
from workbench.core.verify import verify_lab

LABS = list(load_labs().values())


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_starter_fails_and_solution_passes(lab) -> None:
    outcome = verify_lab(lab)
    assert outcome.ok, "\n".join(outcome.problems)
    assert outcome.starter.tests, "the starter must be gradable (run, import, fail checks)"
    assert all(t.skill and t.max_points > 0 for t in outcome.solution.tests), "every check names a skill and points"


def test_every_lab_has_at_least_four_checks_and_three_hints() -> None:
    for lab in LABS:
        assert len(lab.spec.hints) >= 3, f"{lab.id}: needs three escalating hints"
        assert lab.grader_tests(), lab.id


def test_dev_verify_json_cli() -> None:
    from conftest import run_cli

    pilot = LABS[0].id
    result = run_cli("dev", "verify", pilot, "--json")
    rows = __import__("json").loads(result.stdout)
    assert result.returncode == 0 and rows[0]["lab"] == pilot and rows[0]["ok"]
