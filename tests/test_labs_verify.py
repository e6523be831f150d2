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


def test_every_lab_meets_the_lab_standard_counts() -> None:
    """LAB-STANDARD.md: >= 6 checks, >= 3 hints, >= 4 mutants each with a one-line DEFECT.txt,
    and at least one required check."""
    from workbench.core.checks import lab_inventory

    for lab in LABS:
        assert len(lab.spec.hints) >= 3, f"{lab.id}: needs three escalating hints"
        checks = lab_inventory(lab).checks
        assert len(checks) >= 6, f"{lab.id}: {len(checks)} checks, the standard asks for at least 6"
        assert any(c.required for c in checks), f"{lab.id}: no check is marked required=True"
        mutants = lab.mutants()
        assert len(mutants) >= 4, f"{lab.id}: {len(mutants)} mutants in labs/{lab.id}/mutants/, at least 4 needed"
        for folder in mutants:
            defect = folder / "DEFECT.txt"
            assert defect.is_file() and defect.read_text().strip(), f"{folder}: DEFECT.txt missing or empty"
            assert any(p.suffix == ".py" for p in folder.rglob("*")), f"{folder}: no changed file"


def test_dev_verify_json_cli() -> None:
    from conftest import run_cli

    pilot = LABS[0].id
    result = run_cli("dev", "verify", pilot, "--json")
    rows = __import__("json").loads(result.stdout)
    assert result.returncode == 0 and rows[0]["lab"] == pilot and rows[0]["ok"]
