"""The kernel sandbox that learner code runs in.

Layout of one grading run (see DESIGN.md, "Grading engine v2"):

    workbench check (parent, host network)       progress store, result, model bridge
      └─ grader process (own network namespace: loopback only)   pytest + plugin + verdict
           └─ learner worker (bubblewrap)   own pid namespace, shares the grader's loopback,
                                            read-only filesystem except its lab copy and a
                                            private /tmp, hard rlimits, allow-listed env

The grader and the worker share one loopback, so learner servers listen on 127.0.0.1 and the
grader reaches them there; nothing else is reachable from either. Model calls leave through
the grader's metering proxy and the parent's bridge (a unix socket), never directly.

Kinds: "bwrap" (bubblewrap present and working, network namespace available), "none"
(grading still runs, the result says so).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1

# Environment the worker gets, by exact name (no prefixes): nothing else passes.
WORKER_ENV_NAMES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OPENBLAS_CORETYPE")


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def enter_private_network() -> None:
    """In a freshly forked child: a network namespace of its own with only loopback, up.
    As root directly; otherwise inside a new user namespace mapped to the caller."""
    try:
        _unshare(CLONE_NEWNET)
    except PermissionError:
        uid, gid = os.getuid(), os.getgid()
        _unshare(CLONE_NEWUSER | CLONE_NEWNET)
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    _loopback_up()


@cache
def sandbox_kind() -> str:
    """'bwrap' when this machine can run the full sandbox, else 'none'."""
    if os.environ.get("WORKBENCH_SANDBOX") == "none" or not sys.platform.startswith("linux"):
        return "none"
    if shutil.which("bwrap") is None:
        return "none"
    probe = [sys.executable, "-c", "import socket; socket.socket().bind(('127.0.0.1', 0))"]
    try:
        done = subprocess.run(
            ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--die-with-parent", *probe],
            preexec_fn=enter_private_network, capture_output=True, timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return "none"
    return "bwrap" if done.returncode == 0 else "none"


def why_no_sandbox() -> str:
    """A line for users when `sandbox_kind()` is 'none'."""
    if os.environ.get("WORKBENCH_SANDBOX") == "none":
        return "WORKBENCH_SANDBOX=none is set"
    if not sys.platform.startswith("linux"):
        return f"no kernel sandbox on {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    return "this machine does not allow network/user namespaces"


def sync_tree(src: Path, dst: Path, skip: Iterable[str] = (".git", "__pycache__", ".venv", "node_modules", ".workbench")) -> None:
    """Make `dst` (which stays the same directory, so bind mounts of it stay valid) a copy of `src`."""
    skipped = set(skip)
    dst.mkdir(parents=True, exist_ok=True)
    for child in list(dst.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    for child in src.iterdir():
        if child.name in skipped:
            continue
        target = dst / child.name
        if child.is_symlink():
            continue  # a link could point anywhere; learner folders have no need of them
        if child.is_dir():
            shutil.copytree(child, target, symlinks=False, ignore=shutil.ignore_patterns(*skipped),
                            ignore_dangling_symlinks=True)
        else:
            shutil.copy2(child, target)


def module_stubs(folder: Path, paths: Iterable[str]) -> dict[str, str]:
    """For each installed package folder / module file the lab hides: a stand-in whose import
    raises ImportError naming the lab's rule. Returns {installed path: stand-in path}."""
    replace: dict[str, str] = {}
    for path in paths:
        name = Path(path).name.split(".")[0]
        code = (f"raise ImportError({name!r} + ' is not available while this lab is graded: the lab asks you to do "
                "this part yourself (see the brief)', name=" + repr(name) + ")\n")
        if os.path.isdir(path):
            stub = folder / f"{len(replace)}-{name}"
            stub.mkdir(parents=True, exist_ok=True)
            (stub / "__init__.py").write_text(code)
        elif path.endswith(".py"):
            folder.mkdir(parents=True, exist_ok=True)
            stub = folder / f"{len(replace)}-{name}.py"
            stub.write_text(code)
        else:
            stub = Path("/dev/null")  # a compiled module: loading an empty file fails with ImportError
        replace[path] = str(stub)
    return replace


def worker_argv(lab_copy: Path, private_tmp: Path, hide: Iterable[str], expose: Iterable[str], argv: list[str],
                writable: Iterable[str] = (), replace: dict[str, str] | None = None) -> list[str]:
    """bubblewrap command line for a worker: `/` read-only, `hide` replaced by empty tmpfs,
    `expose` re-bound read-only over them, the lab copy writable, /tmp private, own pid ns."""
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL"]
    hidden = sorted({p for p in hide if p and os.path.isdir(p)}, key=len)
    exposed = sorted({p for p in expose if p and os.path.isdir(p)}, key=len)
    args += ["--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/dev/shm"]
    for path in hidden:
        args += ["--tmpfs", path]
    for path in exposed:
        if any(_inside(path, h) for h in hidden) or path.startswith(("/tmp/", "/var/tmp/")):
            args += ["--ro-bind", path, path]
    for path in hidden:  # a hidden folder inside an exposed one (graders/ inside the package) stays hidden
        if any(_inside(path, e) and path != e for e in exposed):
            args += ["--tmpfs", path]
    for path in sorted({p for p in hide if p and os.path.isfile(p)}):
        args += ["--ro-bind", "/dev/null", path]
    for path, stub in sorted((replace or {}).items()):  # hidden modules: an import that fails clearly
        args += ["--ro-bind", stub, path]
    for path in writable:  # e.g. the folder of a record/replay cassette the user chose
        if os.path.isdir(path):
            args += ["--bind", path, path]
    args += ["--bind", str(private_tmp), str(private_tmp), "--bind", str(lab_copy), str(lab_copy)]
    for path in hidden:  # hidden folders are empty and read-only: a write there fails, as anywhere else
        args += ["--remount-ro", path]
    args += ["--chdir", str(lab_copy), "--"]
    return args + argv


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def hard_limits(memory_mb: int, cpu_s: int, nofile: int = 1024):
    """A preexec function: soft = hard limits that the sandboxed code cannot raise again."""

    def apply() -> None:
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


__all__ = ["WORKER_ENV_NAMES", "enter_private_network", "hard_limits", "sandbox_kind", "sync_tree", "why_no_sandbox", "worker_argv"]
