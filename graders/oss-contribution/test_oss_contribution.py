"""Checks for oss-contribution: a fix of ssekit issue #42 sent upstream as one git commit.

The learner's deliverable is `contribution.patch`, the `git format-patch` output of their
commit. The grader rebuilds upstream ssekit 0.4.1 as a git repository from the installed lab
files, applies the patch with `git am` (which recreates the commit: author, message, diff) and
then, in the sandbox, runs the project's test suite on trees it assembles from that commit:

- after:     the commit as sent (the learner's fix and tests);
- before:    the learner's tests on the unfixed 0.4.1 source (the regression test must fail);
- same-bug:  the learner's tests on 0.4.1's bug written another way (it must fail there too);
- reference: the learner's tests on the maintainers' own fix (it must pass: behaviour, not internals);
- upstream:  upstream's unmodified tests on the learner's source (nothing else broke).

The fix itself is checked on seeded streams cut by held-out families of chunk boundaries.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from _maintainer_fix import BUGGY_SOURCE as SAME_BUG_DECODER
from _maintainer_fix import SOURCE as MAINTAINER_DECODER
from _streams import SHOWN_FAMILY, make_cases
from _upstream import FOOTER, HEADER, ISSUE, UPSTREAM, apply_patch, removed_and_added, tree_files

from workbench.core.worker import kill_tree

SRC_LINE_BOUND = 40  # changed lines (added + removed) under src/; the reference changes 21
RUN_TIMEOUT_S = 60.0
HERE = Path(__file__).resolve().parent


@dataclass
class SuiteRun:
    """One pytest run of a tree in the sandbox: outcome per test id, exit code, output tail."""

    outcomes: dict[str, str]
    code: int | None
    output: str

    def failing(self) -> list[str]:
        return [name for name, status in self.outcomes.items() if status in ("failed", "error")]


# -- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def work(lab_dir) -> Path:
    folder = lab_dir / ".grader-oss"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def applied(lab_dir, work):
    return apply_patch(lab_dir / "contribution.patch", work / "upstream")


@pytest.fixture
def commit(applied):
    """The learner's commit (checks call `_require(commit)` first, so they fail rather than error)."""
    return applied


def _require(applied) -> None:
    if applied.problem:
        pytest.fail(applied.problem, pytrace=False)


@pytest.fixture(scope="session")
def after_files(applied) -> dict[str, bytes]:
    return tree_files(applied.repo)


@pytest.fixture(scope="session")
def pristine_files() -> dict[str, bytes]:
    return tree_files(UPSTREAM)


def _write_tree(target: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return target


def _assemble(work: Path, name: str, base: dict[str, bytes], src_from: dict[str, bytes] | None = None,
              tests_from: dict[str, bytes] | None = None) -> Path:
    """A tree: `base`, with src/ (or tests/) taken from another tree, and upstream's pyproject.toml."""
    files = dict(base)
    for part, source in (("src/", src_from), ("tests/", tests_from)):
        if source is not None:
            files = {k: v for k, v in files.items() if not k.startswith(part)}
            files.update({k: v for k, v in source.items() if k.startswith(part)})
    files["pyproject.toml"] = (UPSTREAM / "pyproject.toml").read_bytes()
    target = work / name
    if target.exists():
        shutil.rmtree(target)
    return _write_tree(target, files)


def _parse_junit(path: Path) -> dict[str, str]:
    outcomes = {}
    if not path.is_file():
        return outcomes
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return outcomes
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                break
        outcomes[name] = status
    return outcomes


def _run_suite(learner_process, tree: Path) -> SuiteRun:
    report = tree / "junit.xml"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tree), "-c",
            str(tree / "pyproject.toml"), f"--junitxml={report}", "-o", "junit_family=xunit1", str(tree / "tests")]
    proc = learner_process(argv, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        out, code = b"", None
    return SuiteRun(_parse_junit(report), code, (out or b"").decode("utf-8", "replace")[-1200:])


class Runs:
    """The suite runs, made on first use (a mutant stops at its first failing required check)."""

    def __init__(self, learner_process, work: Path, after: dict[str, bytes], pristine: dict[str, bytes]) -> None:
        self._start, self._work, self._after, self._pristine = learner_process, work, after, pristine
        self._done: dict[str, SuiteRun] = {}

    def get(self, kind: str) -> SuiteRun:
        if kind not in self._done:
            if kind == "pristine":
                tree = _assemble(self._work, kind, self._pristine)
            elif kind == "after":
                tree = _assemble(self._work, kind, self._after)
            elif kind == "before":
                tree = _assemble(self._work, kind, self._after, src_from=self._pristine)
            elif kind == "same-bug":
                tree = _assemble(self._work, kind, self._after, src_from=self._pristine)
                (tree / "src" / "ssekit" / "decoder.py").write_text(SAME_BUG_DECODER)
            elif kind == "reference":
                tree = _assemble(self._work, kind, self._after, src_from=self._pristine)
                (tree / "src" / "ssekit" / "decoder.py").write_text(MAINTAINER_DECODER)
            elif kind == "upstream":
                tree = _assemble(self._work, kind, self._after, tests_from=self._pristine)
            else:
                raise ValueError(kind)
            self._done[kind] = _run_suite(self._start, tree)
        return self._done[kind]

    def new_tests(self) -> list[str]:
        """Tests of the commit that upstream's suite does not have."""
        return [name for name in self.get("after").outcomes if name not in self.get("pristine").outcomes
                and "::" in name and name.split("::", 1)[0]]


@pytest.fixture(scope="session")
def runs(learner_process, work, after_files, pristine_files) -> Runs:
    return Runs(learner_process, work, after_files, pristine_files)


def _short(output: str, lines: int = 4) -> str:
    tail = [line for line in output.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(tail) or "(no output)"


# -- 1. a real commit that applies ---------------------------------------------------------------------

@pytest.mark.check(skill="programming", points=1, hint=1, required=True, competency="Python (advanced)")
def test_patch_is_one_commit_on_upstream(applied, record_metric):
    """contribution.patch is one git commit (format-patch) that `git am` applies to v0.4.1"""
    assert applied.problem is None, applied.problem
    record_metric("commits", applied.commits)
    assert applied.commits == 1, (
        f"contribution.patch holds {applied.commits} commits; upstream asks for one commit per fix: squash them "
        "(`git rebase -i v0.4.1` or `git reset --soft` and commit again), then `git format-patch -1 HEAD --stdout`")
    files = [path for _a, _d, path in applied.numstat]
    assert files, "the commit changes no file"


# -- 2. the commit message and the changelog -----------------------------------------------------------

def _paragraphs(message: str) -> list[list[str]]:
    paragraphs, current = [], []
    for line in message.strip("\n").splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _footer_and_body(message: str) -> tuple[list[str], list[str]]:
    """(footer lines, body lines). The footer is the trailing run of paragraphs made only of
    `Token: value` / `Token #value` lines: git does not read `Fixes #42` as a trailer, so
    `git commit -s` puts the sign-off in a paragraph of its own after it."""
    paragraphs = _paragraphs(message)[1:]
    split = len(paragraphs)
    while split > 0 and all(FOOTER.match(line) for line in paragraphs[split - 1]):
        split -= 1
    return ([line for paragraph in paragraphs[split:] for line in paragraph],
            [line for paragraph in paragraphs[:split] for line in paragraph])


@pytest.mark.check(skill="programming", points=2, hint=3, required=True, competency="Python (advanced)")
def test_conventional_commit_message(commit, record_metric):
    """the commit message follows Conventional Commits and upstream's CONTRIBUTING.md"""
    _require(commit)
    message = commit.message
    lines = message.strip("\n").splitlines()
    header = lines[0] if lines else ""
    record_metric("header", header[:80])
    where = f"(your header: {header!r})"
    match = HEADER.match(header)
    assert match, (f"the header must read `<type>(<optional scope>): <description>` {where}; see "
                   "https://www.conventionalcommits.org/en/v1.0.0/")
    assert match["type"] == "fix", f"the type is {match['type']!r}; a bug fix is `fix` {where}"
    assert match["scope"] is None or (match["scope"] and match["scope"] == match["scope"].lower()), (
        f"the scope must be a lower-case noun such as `decoder` {where}")
    assert not match["bang"] and "BREAKING CHANGE" not in message and "BREAKING-CHANGE" not in message, (
        f"the message marks a breaking change, but this fix keeps the API: drop the `!` / BREAKING CHANGE {where}")
    description = match["description"]
    assert description.strip() == description and description, f"the description is empty or padded {where}"
    assert len(header) <= 72, f"the header is {len(header)} characters; CONTRIBUTING.md allows 72 {where}"
    assert not description.endswith("."), f"the description ends with a period {where}"
    assert not description[0].isupper(), f"the description starts with a capital; upstream writes lower case {where}"
    assert len(lines) == 1 or not lines[1].strip(), "the header must be followed by a blank line"
    footer, body = _footer_and_body(message)
    assert footer, (f"the message needs a footer paragraph after the body: `Fixes #{ISSUE}` and your "
                    "`Signed-off-by:` (footer lines are `Token: value` or `Token #value`)")
    refs = [line for line in footer if line.split(" #", 1)[0].split(":", 1)[0].strip().lower()
            in ("fixes", "closes", "resolves")]
    assert any(line.rstrip().endswith(f"#{ISSUE}") for line in refs), (
        f"the footer must close the issue: `Fixes #{ISSUE}` (found {refs or 'no Fixes/Closes/Resolves line'})")
    assert sum(len(line.split()) for line in body) >= 8, (
        f"the body says too little ({' '.join(body)!r}): say what was wrong and why the change fixes it")


@pytest.mark.check(skill="programming", points=1, hint=3, required=False, competency="Python (advanced)")
def test_developer_certificate_of_origin(commit):
    """the commit carries a DCO sign-off by its author (`git commit -s`)"""
    _require(commit)
    footer, _body = _footer_and_body(commit.message)
    signed = [line.split(":", 1)[1].strip() for line in footer if line.startswith("Signed-off-by:")]
    assert signed, "no `Signed-off-by:` line in the footer: commit with `git commit -s` (CONTRIBUTING.md, item 6)"
    assert commit.author in signed, (
        f"the sign-off ({signed}) does not match the commit's author ({commit.author!r}): sign off as yourself")
    assert "ssekit.example" not in commit.author and commit.author.split("<")[0].strip(), (
        f"the commit's author is {commit.author!r}: commit under your own name and email")


@pytest.mark.check(skill="programming", points=1, hint=3, required=True, competency="Python (advanced)")
def test_changelog_entry(commit, after_files, pristine_files, record_metric):
    """one bullet for #42 under ## [Unreleased] / ### Fixed; released sections untouched"""
    _require(commit)
    new = after_files.get("CHANGELOG.md", b"").decode("utf-8", "replace")
    old = pristine_files["CHANGELOG.md"].decode()
    assert new != old, "CHANGELOG.md is not in the commit: add an entry under `## [Unreleased]`"
    head, _, released = old.partition("\n## [0.4.1]")
    assert new.endswith("\n## [0.4.1]" + released), (
        "the released sections (## [0.4.1] and older) changed: they are history; add your entry under "
        "`## [Unreleased]` only")
    assert new.startswith(head), "the changelog's introduction or `## [Unreleased]` heading changed: leave them as they are"
    unreleased = new[len(head):-len("\n## [0.4.1]" + released)]
    record_metric("unreleased", unreleased.strip()[:200])
    sections = [part for part in unreleased.split("\n### ")[1:]]
    fixed = [part for part in sections if part.splitlines()[0].strip() == "Fixed"]
    assert len(fixed) == 1, (f"`## [Unreleased]` needs one `### Fixed` subsection for a bug fix (Keep a Changelog); "
                             f"found subsections {[part.splitlines()[0] for part in sections]}")
    bullets = [b.strip() for b in ("\n" + fixed[0]).split("\n- ")[1:]]
    mentions = [b for b in bullets if f"#{ISSUE}" in b]
    assert len(mentions) == 1, f"`### Fixed` needs one `- ...` bullet naming the issue (#{ISSUE}); bullets: {bullets}"
    words = " ".join(mentions[0].split())
    assert len(words.split()) >= 6, f"the entry ({words!r}) is too short to tell users what changed"


# -- 3. scope and style ------------------------------------------------------------------------------

@pytest.mark.check(skill="programming", points=2, hint=3, required=True, competency="Python (advanced)")
def test_minimal_diff(commit, record_metric):
    """minimal diff: only src/, tests/ and CHANGELOG.md, old tests untouched, at most 40 changed source lines"""
    _require(commit)
    outside, src_lines = [], 0
    for added, deleted, path in commit.numstat:
        if path.startswith("src/ssekit/") and path.endswith(".py"):
            src_lines += added + deleted
        elif not ((path.startswith("tests/") and path.endswith(".py")) or path == "CHANGELOG.md"):
            outside.append(path)
    record_metric("src_changed_lines", src_lines)
    record_metric("files", len(commit.numstat))
    assert not outside, (f"the commit changes {outside}: a fix touches src/, tests/ and CHANGELOG.md only "
                         "(no config, docs, version or packaging changes; CONTRIBUTING.md, item 4)")
    removed, added = removed_and_added(commit.diff("src", "tests"))
    deleted_files = [path for _a, _d, path in commit.numstat if path.startswith(("src/", "tests/"))
                     and not (commit.repo / path).exists()]
    assert not deleted_files, f"the commit deletes {deleted_files}"
    version = [line for path in (*removed, *added) for line in (removed.get(path, []) + added.get(path, []))
               if "__version__" in line]
    assert not version, f"the commit changes the version ({version}): the maintainers bump it at release time"
    edited = [f"{path}: {line.strip()!r}" for path, lines in removed.items() if path.startswith("tests/")
              for line in lines if line.strip() and not line.lstrip().startswith(("import ", "from "))]
    assert not edited, (f"the commit edits or deletes lines of upstream's tests ({edited[:3]}): add new tests, leave "
                        "theirs as they are")
    assert src_lines <= SRC_LINE_BOUND, (
        f"the commit changes {src_lines} lines under src/; a minimal fix needs at most {SRC_LINE_BOUND} (the "
        "reference changes 21): no reformatting, renames or refactoring of code the fix does not need")


def _ruff() -> list[str] | None:
    import importlib.util

    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff", path=str(Path(sys.executable).parent))
    return [found] if found else None


@pytest.mark.check(skill="programming", points=1, hint=3, required=True, competency="Python (advanced)")
def test_ruff_clean(commit, work, after_files, record_metric):
    """`ruff check` and `ruff format --check` pass with upstream's configuration, no `# noqa` added"""
    _require(commit)
    ruff = _ruff()
    assert ruff is not None, "ruff is not installed in the workbench's environment (pip install ruff==0.17.5)"
    _removed, added = removed_and_added(commit.diff())
    noqa = [f"{path}: {line.strip()}" for path, lines in added.items() for line in lines if "noqa" in line.lower()]
    assert not noqa, f"the commit silences ruff with `# noqa` ({noqa[:2]}): fix the finding instead"
    tree = _assemble(work, "lint", after_files)
    config = str(tree / "pyproject.toml")
    lint = subprocess.run([*ruff, "check", "--no-cache", "--ignore-noqa", "--output-format", "concise", "--config",
                           config, "."], cwd=tree, capture_output=True, text=True, timeout=60)
    fmt = subprocess.run([*ruff, "format", "--check", "--no-cache", "--config", config, "."], cwd=tree,
                         capture_output=True, text=True, timeout=60)
    record_metric("ruff_check_exit", lint.returncode)
    record_metric("ruff_format_exit", fmt.returncode)
    assert lint.returncode == 0, f"`ruff check` finds problems in the commit: {_short(lint.stdout + lint.stderr, 6)}"
    assert fmt.returncode == 0, (f"`ruff format --check` would reformat files of the commit: "
                                 f"{_short(fmt.stdout + fmt.stderr, 6)} (run `python -m ruff format .` in ssekit/)")


# -- 4. the fix ----------------------------------------------------------------------------------------

@pytest.mark.check(skill="programming", points=4, hint=2, required=True, competency="Python (advanced)")
def test_fix_decodes_any_chunking(commit, work, after_files, learner_process, seed, record_metric):
    """the fixed decoder gives the same events however the stream is cut, and each as soon as it is complete"""
    _require(commit)
    cases = make_cases(seed)
    tree = _assemble(work, "probe", after_files)
    cases_path, out_path = work / "cases.json", work / "probe-out.json"
    cases_path.write_text(json.dumps(cases))
    shutil.copy(HERE / "_probe.py", work / "_probe.py")
    proc = learner_process([sys.executable, str(work / "_probe.py"), str(tree), str(cases_path), str(out_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        pytest.fail(f"feeding {len(cases)} streams to your SSEDecoder took more than {RUN_TIMEOUT_S:.0f} s", pytrace=False)
    assert out_path.is_file(), f"the decoder crashed the probe: {_short((out or b'').decode('utf-8', 'replace'))}"
    report = json.loads(out_path.read_text())
    assert "import_error" not in report, f"`from ssekit import SSEDecoder` failed: {report.get('import_error')}"
    results = report.get("results", [])
    assert len(results) == len(cases), "the probe did not finish every stream"
    wrong: dict[str, str] = {}
    for case, result in zip(cases, results, strict=True):
        label = f"{case['family']}, {case['ending']} line endings"
        got = [event for feed in result.get("per_feed", []) for event in feed]
        if result.get("error"):
            wrong.setdefault(label, f"raised {result['error']}")
        elif got != case["want"]:
            first = next((i for i, (g, w) in enumerate(zip(got, case["want"], strict=False)) if g != w),
                         min(len(got), len(case["want"])))
            wrong.setdefault(label, f"{len(got)} events, needed {len(case['want'])}; event {first}: got "
                             f"{got[first] if first < len(got) else None!r}, needed "
                             f"{case['want'][first] if first < len(case['want']) else None!r}")
        elif "want_per_feed" in case and result["per_feed"] != case["want_per_feed"]:
            wrong.setdefault(label, "the right events, but not each from the feed() call whose chunk completes it "
                                    "(an event must come out as soon as its blank line has arrived)")
    record_metric("streams", len(cases))
    record_metric("streams_wrong", len(wrong))
    record_metric("chunks_fed", sum(len(c["chunks"]) for c in cases))
    shown_ok = not any(label.startswith(SHOWN_FAMILY) for label in wrong)
    assert not wrong, (
        f"{len(wrong)} of {len(cases)} seeded streams decode wrongly ([data, event, id] per event; the issue's own "
        f"reproduction {'passes' if shown_ok else 'fails too'}):\n  "
        + "\n  ".join(f"{label}: {detail}" for label, detail in list(wrong.items())[:5]))


# -- 5. the regression test and the suite ---------------------------------------------------------------

@pytest.mark.check(skill="programming", points=3, hint=2, required=True, competency="Python (advanced)")
def test_regression_test_fails_before_and_passes_after(commit, runs, record_metric):
    """a new test fails on the bug (0.4.1, and the bug written another way), passes on your fix and the maintainers'"""
    _require(commit)
    new = runs.new_tests()
    record_metric("new_tests", len(new))
    assert new, ("the commit adds no test that pytest collects: add a regression test under tests/ (a `test_...` "
                 f"function in a `test_*.py` file) [after run: {_short(runs.get('after').output)}]")
    before = runs.get("before")
    failing_before = [name for name in new if before.outcomes.get(name) == "failed"]
    record_metric("fail_before", len(failing_before))
    if not failing_before:
        errors = [name for name, status in before.outcomes.items() if status == "error"]
        if errors:
            pytest.fail(f"on 0.4.1 your new tests do not fail, they cannot run ({errors[:2]}: "
                        f"{_short(before.output)}); a regression test uses the public API that 0.4.1 already has, "
                        "so it fails on an assertion before the fix", pytrace=False)
        pytest.fail(f"your new tests {new[:4]} pass on the unfixed 0.4.1 too: they do not reproduce issue #{ISSUE}",
                    pytrace=False)
    same_bug = runs.get("same-bug")
    code_bound = [name for name in failing_before if same_bug.outcomes.get(name) != "failed"]
    failing_before = [name for name in failing_before if name not in code_bound]
    record_metric("fail_on_same_bug", len(failing_before))
    assert failing_before, (
        f"your new tests {code_bound[:3]} fail on 0.4.1 but pass on another decoder with the same bug (every "
        "feed() starts from scratch): they spot 0.4.1's code, not the behaviour the issue reports; feed chunks and "
        "compare the events")
    after = runs.get("after")
    not_after = [name for name in failing_before if after.outcomes.get(name) != "passed"]
    assert not not_after, f"the regression test(s) {not_after} do not pass with your fix: {_short(after.output)}"
    reference = runs.get("reference")
    not_reference = [name for name in failing_before if reference.outcomes.get(name) != "passed"]
    record_metric("pass_on_maintainers_fix", len(failing_before) - len(not_reference))
    assert not not_reference, (
        f"the regression test(s) {not_reference} fail on the maintainers' own fix of #{ISSUE} "
        f"({_short(reference.output, 3)}): they test your implementation (private attributes or helpers), not the "
        "behaviour users see through SSEDecoder.feed / iter_events / iter_text")


@pytest.mark.check(skill="programming", points=2, hint=2, required=True, competency="Python (advanced)")
def test_whole_suite_green(commit, runs, record_metric):
    """the commit's whole suite passes, and upstream's own tests pass on the fixed source"""
    _require(commit)
    pristine = runs.get("pristine")
    assert pristine.code == 0 and pristine.outcomes, f"grader error: upstream's suite does not pass ({_short(pristine.output)})"
    after = runs.get("after")
    record_metric("tests", len(after.outcomes))
    assert after.code == 0 and not after.failing(), (
        f"`python -m pytest` on your commit is not green (exit {after.code}; failing {after.failing()[:4]}): "
        f"{_short(after.output)}")
    missing = [name for name in pristine.outcomes if name not in after.outcomes]
    assert not missing, f"upstream's tests {missing[:4]} are gone from the commit's suite: keep every existing test"
    upstream = runs.get("upstream")
    assert upstream.code == 0 and not upstream.failing(), (
        f"upstream's unmodified tests fail on your source (failing {upstream.failing()[:4]}): "
        f"{_short(upstream.output)}")


@pytest.mark.check(skill="programming", points=1, hint=1, required=False, competency="Python (advanced)")
def test_committed_what_you_tested(commit, lab_dir, after_files, record_metric):
    """ssekit/ in the lab folder is exactly the commit's tree: nothing left uncommitted or unstaged"""
    _require(commit)
    folder = lab_dir / "ssekit"
    assert folder.is_dir(), "the lab folder has no ssekit/ (your clone of upstream)"
    local = tree_files(folder)
    only_local = sorted(set(local) - set(after_files))
    only_commit = sorted(set(after_files) - set(local))
    differ = sorted(p for p in set(local) & set(after_files) if local[p] != after_files[p])
    record_metric("differences", len(only_local) + len(only_commit) + len(differ))
    problems = []
    if only_local:
        problems.append(f"in your folder but not in the commit (forgot `git add`?): {only_local[:4]}")
    if differ:
        problems.append(f"changed after the commit (commit --amend, then format-patch again): {differ[:4]}")
    if only_commit:
        problems.append(f"in the commit but not in your folder: {only_commit[:4]}")
    assert not problems, "ssekit/ differs from the commit in contribution.patch: " + "; ".join(problems)
