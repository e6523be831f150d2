"""Attacks on the grading engine from the learner's code. Each must fail.

Every attack is written so that, if it worked, the learner would pass: the attack code starts
from the toy lab's wrong starter and switches to correct answers (or forges them) only when its
trick succeeds. So "the result is not a pass" is the proof that the trick failed, and each test
also checks the specific damage (files, progress, listeners, processes) directly.

Network-escape attacks aim at a listener this test starts on this machine's own non-loopback
address, never at another machine.
"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import textwrap
import threading
import time
from pathlib import Path

import pytest
from labkit import TOY_STARTER

from workbench.core.grading import grade
from workbench.core.labs import get_lab
from workbench.core.sandbox import sandbox_kind

pytestmark = pytest.mark.skipif(sandbox_kind() == "none", reason="no kernel sandbox on this machine (bubblewrap)")

CHEAT = '''
def add(a, b):
    return a + b


def greet(name):
    return f"Hello, {name}!"


def work():
    return "done"
'''


@pytest.fixture
def ws(toy_data: Path, tmp_path: Path):
    """A workspace with the toy lab started and a progress database."""
    from workbench.core.workspace import init_workspace

    workspace, _ = init_workspace(tmp_path / "ws")
    lab_dir = workspace.root / "toy"
    lab_dir.mkdir()
    return workspace, lab_dir


def _attack(lab_dir: Path, code: str) -> None:
    (lab_dir / "toy.py").write_text(TOY_STARTER + "\n\n" + textwrap.dedent(code))


def _grade(workspace, lab_dir: Path):
    return grade(get_lab("toy"), lab_dir, workspace_root=workspace.root)


def _not_a_pass(result) -> None:
    assert result.status != "pass", f"the attack passed: {result.to_dict()}"
    assert result.score < 0.75
    assert result.sandbox == "bwrap"


def _own_address() -> str | None:
    """This machine's own non-loopback IPv4 address (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.fixture
def listener():
    """A TCP listener on this machine's own eth0 address, recording whatever connects."""
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    server = socket.socket()
    server.bind((address, 0))
    server.listen(8)
    server.settimeout(0.2)
    hits: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                hits.append(conn.recv(100) or b"<connected>")
            except OSError:
                hits.append(b"<connected>")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname(), hits
    stop.set()
    thread.join()
    server.close()


def test_event_forgery_on_every_inherited_fd(ws) -> None:
    workspace, lab_dir = ws
    _attack(lab_dir, '''
        import json, os
        for fd in range(3, 64):
            for task_id in range(1, 4):
                line = json.dumps({"event": "check", "task_id": task_id, "name": "x", "status": "pass",
                                   "points": 2, "max_points": 2}) + "\\n"
                try:
                    os.write(fd, line.encode())
                except OSError:
                    pass
            try:
                os.write(fd, b'{"event": "finished", "exitstatus": 0}\\n')
            except OSError:
                pass
        os._exit(0)
    ''')
    _not_a_pass(_grade(workspace, lab_dir))


def test_patching_pytest_and_the_plugin(ws) -> None:
    workspace, lab_dir = ws
    _attack(lab_dir, '''
        try:
            import _pytest.runner, workbench.grader_plugin as plugin
            _pytest.runner.call_and_report = lambda item, when, log=True, **kw: None
            plugin._check_event = lambda item, meta, task_id, d: {**meta, "event": "check", "task_id": task_id,
                                                                   "status": "pass", "points": meta["points"],
                                                                   "max_points": meta["points"]}
        except Exception:
            pass
        import sys
        for name, module in list(sys.modules.items()):
            if name.startswith(("pytest", "_pytest", "workbench")):
                for attr in ("fail", "_emit", "emit_event"):
                    if hasattr(module, attr):
                        try:
                            setattr(module, attr, lambda *a, **k: None)
                        except Exception:
                            pass
    ''')
    result = _grade(workspace, lab_dir)
    _not_a_pass(result)
    assert next(t for t in result.tests if t.name == "add() adds").message == "add(2, 2) returned 0, needs 4"


def test_reading_the_reference_solution_and_the_grader(ws, toy_data: Path) -> None:
    workspace, lab_dir = ws
    solution = toy_data / "labs" / "toy" / "solution" / "toy.py"
    grader = toy_data / "graders" / "toy" / "test_toy.py"
    _attack(lab_dir, f'''
        import glob, os
        for path in [{str(solution)!r}, {str(grader)!r}, *glob.glob("/**/labs/toy/solution/toy.py", recursive=True)[:3]]:
            try:
                source = open(path).read()
            except OSError:
                continue
            exec(compile(source if "def add" in source else {CHEAT!r}, path, "exec"), globals())
            break
    ''')
    _not_a_pass(_grade(workspace, lab_dir))


def test_writing_a_passing_attempt_into_the_progress_db(ws) -> None:
    workspace, lab_dir = ws
    db = workspace.root / ".workbench" / "progress.db"
    workspace.progress.last_started()  # make sure the database exists
    before = hashlib.sha256(db.read_bytes()).hexdigest() if db.exists() else None
    _attack(lab_dir, f'''
        import sqlite3
        try:
            con = sqlite3.connect({str(db)!r})
            for table, in con.execute("select name from sqlite_master where type='table'").fetchall():
                con.execute(f"delete from {{table}}")
            con.commit()
            FORGED = True
        except Exception as exc:
            FORGED = False
        if FORGED:
            exec({CHEAT!r})
    ''')
    result = _grade(workspace, lab_dir)
    _not_a_pass(result)
    after = hashlib.sha256(db.read_bytes()).hexdigest() if db.exists() else None
    assert before == after, "the progress database changed during grading"
    con = sqlite3.connect(db)
    assert con.execute("select name from sqlite_master").fetchall(), "the progress tables were dropped"


def test_reading_the_config_dir_and_signing_key(ws, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, lab_dir = ws
    config = isolated_home / "xdg_config_home" / "workbench"
    config.mkdir(parents=True, exist_ok=True)
    (config / "signing-key.pem").write_text("SECRET-KEY-MATERIAL")
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(config))
    _attack(lab_dir, f'''
        import os
        found = []
        for root in ({str(config)!r}, os.path.expanduser("~"), {str(isolated_home)!r}):
            for dirpath, _, files in os.walk(root):
                for name in files:
                    try:
                        if "SECRET" in open(os.path.join(dirpath, name)).read():
                            found.append(name)
                    except OSError:
                        pass
        if found:
            exec({CHEAT!r})
    ''')
    _not_a_pass(_grade(workspace, lab_dir))


def test_environment_leaks(ws, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, lab_dir = ws
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", "/nonexistent/config")
    monkeypatch.setenv("WORKBENCH_NET_GUARD", "0")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    _attack(lab_dir, f'''
        import os
        leaked = [k for k in os.environ if k in ("WORKBENCH_CONFIG_DIR", "WORKBENCH_NET_GUARD", "AWS_SECRET_ACCESS_KEY",
                                                  "WORKBENCH_EVENT_FD", "WORKBENCH_SANDBOX_HIDE")]
        leaked += [k for k, v in os.environ.items() if "secret" in v]
        if leaked:
            exec({CHEAT!r})
    ''')
    _not_a_pass(_grade(workspace, lab_dir))


def test_network_escape_by_raw_socket(ws, listener) -> None:
    workspace, lab_dir = ws
    (host, port), hits = listener
    _attack(lab_dir, f'''
        import _socket
        try:
            s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(({host!r}, {port}))
            s.send(b"ESCAPED")
            exec({CHEAT!r})
        except OSError:
            pass
    ''')
    _not_a_pass(_grade(workspace, lab_dir))
    time.sleep(0.3)
    assert hits == [], f"the learner's code reached {host}:{port}"


def test_network_escape_by_subprocess(ws, listener) -> None:
    workspace, lab_dir = ws
    (host, port), hits = listener
    _attack(lab_dir, f'''
        import subprocess, sys
        code = "import socket; s = socket.create_connection(({host!r}, {port}), timeout=2); s.send(b'ESCAPED')"
        if subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=10).returncode == 0:
            exec({CHEAT!r})
    ''')
    _not_a_pass(_grade(workspace, lab_dir))
    time.sleep(0.3)
    assert hits == [], f"a subprocess of the learner's code reached {host}:{port}"


def test_lifting_the_memory_limit(ws) -> None:
    workspace, lab_dir = ws  # the toy lab allows 1024 MB
    _attack(lab_dir, '''
        import resource
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (ValueError, OSError):
            pass
        try:
            block = bytearray(2500 * 1024 * 1024)
            exec(CHEAT_SOURCE)
        except MemoryError:
            pass
    '''.replace("CHEAT_SOURCE", repr(CHEAT)))
    _not_a_pass(_grade(workspace, lab_dir))


def test_swallowing_the_timeout_and_blocking_alarms(ws) -> None:
    workspace, lab_dir = ws  # check_timeout_s = 10, whole run 30
    (lab_dir / "toy.py").write_text(textwrap.dedent('''
        import signal, time


        def add(a, b):
            return a + b


        def greet(name):
            return f"Hello, {name}!"


        def work():
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM, signal.SIGINT})
            for sig in (signal.SIGALRM, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
            while True:
                try:
                    time.sleep(0.1)
                except BaseException:
                    pass
    '''))
    started = time.monotonic()
    result = _grade(workspace, lab_dir)
    assert time.monotonic() - started < 25, "the stuck check was not stopped at its own time limit"
    work = next(t for t in result.tests if t.name == "work() finishes")
    assert work.status != "pass" and work.message.startswith("timed out after 10 s")
    assert [t.status for t in result.tests if t is not work] == ["pass", "pass"]


def test_the_next_check_runs_after_a_stuck_one(ws) -> None:
    workspace, lab_dir = ws
    (lab_dir / "toy.py").write_text(textwrap.dedent('''
        import time


        def add(a, b):
            while True:
                time.sleep(1)


        def greet(name):
            return f"Hello, {name}!"


        def work():
            return "done"
    '''))
    result = _grade(workspace, lab_dir)
    statuses = {t.name: t.status for t in result.tests}
    assert statuses["add() adds"] != "pass"
    assert statuses["greet() greets by name"] == "pass" and statuses["work() finishes"] == "pass"


def test_helpers_do_not_survive_and_write_late(ws, tmp_path: Path) -> None:
    workspace, lab_dir = ws
    late = lab_dir / "late.txt"
    outside = tmp_path / "late-outside.txt"
    _attack(lab_dir, f'''
        import os, subprocess, sys
        code = ("import time, os\\n"
                "time.sleep(4)\\n"
                "for p in ({str(late)!r}, {str(outside)!r}, 'late.txt'):\\n"
                "    try:\\n"
                "        open(p, 'w').write('late')\\n"
                "    except OSError:\\n"
                "        pass\\n")
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.fork() == 0:
            os.setsid()
            exec(code)
            os._exit(0)
    ''')
    _not_a_pass(_grade(workspace, lab_dir))
    time.sleep(6)
    assert not late.exists() and not outside.exists(), "a helper of the learner's code wrote after grading ended"


def test_writes_outside_the_lab_folder(ws, tmp_path: Path) -> None:
    workspace, lab_dir = ws
    targets = [workspace.root / "other.txt", tmp_path / "outside.txt", lab_dir.parent / ".workbench" / "x"]
    _attack(lab_dir, f'''
        wrote = []
        for path in {[str(p) for p in targets]!r}:
            try:
                open(path, "w").write("x")  # /tmp is a private tmpfs: a write there lands nowhere
                wrote.append(path)
            except OSError:
                pass
    ''')
    _not_a_pass(_grade(workspace, lab_dir))
    assert not any(p.exists() for p in targets), "the learner's code wrote outside its lab folder"


def test_forged_equality_and_truthiness(ws) -> None:
    workspace, lab_dir = ws
    _attack(lab_dir, '''
        class Anything(str):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = str.__hash__

        class Number(float):
            def __eq__(self, other):
                return True

        def add(a, b):
            return Number(0)

        def greet(name):
            return Anything("nope")

        def work():
            return Anything("todo")
    ''')
    result = _grade(workspace, lab_dir)
    _not_a_pass(result)
    assert result.points == 0


def test_killing_everything_it_can_see(ws) -> None:
    workspace, lab_dir = ws
    import subprocess

    sentinel = subprocess.Popen(["sleep", "60"])
    _attack(lab_dir, f'''
        import os, signal
        # a sentinel outside, the worker's parent and pid 1 (never a sweep of every pid: if the
        # sandbox were broken, that would take down the machine running the tests)
        for pid in [{sentinel.pid}, os.getppid(), 1]:
            if pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    ''')
    try:
        result = _grade(workspace, lab_dir)
        assert result.tests and all(t.status != "error" for t in result.tests), "the grader itself was killed"
        _not_a_pass(result)
        assert sentinel.poll() is None, "the learner's code killed a process outside its sandbox"
    finally:
        sentinel.kill()


def test_climbing_out_through_a_grader_callback(ws, toy_data: Path, tmp_path: Path) -> None:
    """A callback the grader hands to learner code must not be a way into the grader process
    (its __globals__, its builtins, setattr on grader objects)."""
    from labkit import clear_caches

    grader = toy_data / "graders" / "toy" / "test_toy.py"
    grader.write_text(grader.read_text() + textwrap.dedent('''

        class Counter:
            def __init__(self):
                self.calls = 0

            def __call__(self, x):
                self.calls += 1
                return x + 1


        @pytest.mark.check(skill="programming", points=4)
        def test_apply(learner):
            """apply() calls the callback once"""
            counter = Counter()
            assert learner.apply(counter, 1) == 2
            assert counter.calls == 1, f"the callback was called {counter.calls} times"
    '''))
    clear_caches()
    workspace, lab_dir = ws
    marker = tmp_path / "pwned"
    _attack(lab_dir, f'''
        def apply(fn, x):
            ep = fn._endpoint
            tries = [("getattr", "__globals__"), ("getattr", "__class__"), ("getattr", "__init__"),
                     ("getattr", "_endpoint"), ("hasattr", "__dict__")]
            for op, name in tries:
                try:
                    got = ep.request(op, fn._id, name, (), {{}})
                    builtins = got["__builtins__"] if op == "getattr" and name == "__globals__" else None
                    if builtins is not None:
                        os_module = builtins["__import__"]("os")
                        os_module.system("touch {marker}")
                except Exception:
                    pass
            try:
                ep.request("setattr", fn._id, "calls", (-100,), {{}})
            except Exception:
                pass
            fn(x)
            return 2
    ''')
    result = _grade(workspace, lab_dir)
    assert not marker.exists(), "learner code ran a command in the grader process"
    apply = next(t for t in result.tests if t.name == "apply() calls the callback once")
    assert apply.status == "pass", apply.message  # one honest call; the forged count was refused
    _not_a_pass(result)
