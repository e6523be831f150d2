"""lab.toml validation: every broken lab gets an error naming the file and key."""

from pathlib import Path

import pytest
from labkit import clear_caches, make_data_dir

from workbench.core.errors import DataError, NotFoundError
from workbench.core.labs import get_lab, load_labs


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_data_dir(tmp_path / "data", ("toy", "toy-two"))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(root))
    clear_caches()
    yield root
    clear_caches()


def _edit(data: Path, lab_id: str, old: str, new: str) -> Path:
    path = data / "labs" / lab_id / "lab.toml"
    path.write_text(path.read_text().replace(old, new, 1))
    clear_caches()
    return path


def test_valid_labs_load(data: Path) -> None:
    labs = load_labs()
    assert list(labs) == ["toy", "toy-two"]
    assert labs["toy"].main_module == "toy"
    assert len(labs["toy"].grader_sha256()) == 64


@pytest.mark.parametrize(("old", "new", "pattern", "key"), [
    ('programming = 2', 'programing = 2', "unknown skill 'programing'", "skills.programing"),
    ('topic = "advanced-python"', 'topic = "advanced-pyton"', "unknown topic", "topic"),
    ('title = "Toy lab"', 'title = "Toy lab"\ncolour = "red"', "unknown key", "colour"),
    ('level = 1', 'level = 7', "less than or equal to 4", "level"),
    ('id = "toy"', 'id = "other"', "must match the folder name", "id"),
    ('needs = []', 'needs = ["gpu"]', "unknown need", "needs"),
    ('phase = "foundations"', 'phase = "production"', "belongs to phase", "phase"),
])
def test_bad_field_is_named(data: Path, old: str, new: str, pattern: str, key: str) -> None:
    if old == 'needs = []':
        old, new = 'files = ["toy.py"]', 'files = ["toy.py"]\nneeds = ["gpu"]'
    path = _edit(data, "toy", old, new)
    with pytest.raises(DataError, match=pattern) as info:
        load_labs()
    assert info.value.path == path
    assert info.value.key == key
    assert info.value.line is not None


def test_no_hint_is_rejected(data: Path) -> None:
    path = data / "labs" / "toy" / "lab.toml"
    text = path.read_text()
    path.write_text(text[: text.index("[[hints]]")])
    clear_caches()
    with pytest.raises(DataError, match="hints"):
        load_labs()


def test_requires_must_resolve_and_not_cycle(data: Path) -> None:
    _edit(data, "toy", "requires = []", 'requires = ["nope"]')
    with pytest.raises(DataError, match="requires unknown lab 'nope'"):
        load_labs()
    _edit(data, "toy", 'requires = ["nope"]', 'requires = ["toy-two"]')
    _edit(data, "toy-two", "requires = []", 'requires = ["toy"]')
    with pytest.raises(DataError, match="cycle: toy -> toy-two -> toy"):
        load_labs()


@pytest.mark.parametrize("missing", ["README.md", "starter", "solution"])
def test_missing_parts(data: Path, missing: str) -> None:
    import shutil

    target = data / "labs" / "toy" / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    clear_caches()
    with pytest.raises(DataError, match=f"no {missing}"):
        load_labs()


def test_missing_grader_and_unlisted_lab(data: Path) -> None:
    (data / "graders" / "toy" / "test_toy.py").unlink()
    clear_caches()
    with pytest.raises(DataError, match="no grader"):
        load_labs()


def test_lab_not_listed_in_curriculum(data: Path) -> None:
    curriculum = data / "curricula" / "ai-engineer-2026.toml"
    curriculum.write_text(curriculum.read_text().replace('labs = ["toy", "toy-two"]', 'labs = ["toy"]'))
    clear_caches()
    with pytest.raises(DataError, match="not listed under topic 'advanced-python'"):
        load_labs()


def test_unknown_lab_suggests_closest(data: Path) -> None:
    with pytest.raises(NotFoundError, match="did you mean 'toy-two'"):
        get_lab("toy-tw")
