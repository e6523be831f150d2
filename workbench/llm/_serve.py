"""The embedded server process: llama-cpp-python's OpenAI-compatible app on a socket we bind.

Run by `workbench.llm.server.up()` as `python -m workbench.llm._serve ...`. Binding the
socket here (port 0 = a free one, chosen by the kernel) leaves no window in which another
program could take the port between choosing and listening. Once bound, the process writes
its state file (pid, port, token) so `status`/`down` can find it and prove it is ours: the
extra route /workbench/info answers with the same pid and token.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

EXIT_PORT_IN_USE = 3


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workbench.llm._serve")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--state-file", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(f"workbench-serve: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_PORT_IN_USE)
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def _write_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2), "utf-8")
    tmp.replace(path)


def _render_chat_templates_unescaped() -> None:
    """llama-cpp-python 0.3.x renders chatml-function-calling prompts with HTML autoescape on,
    so every quote in tool arguments and results reaches the model as `&#34;` (and it copies
    that into its answers). Prompts are not HTML: render them verbatim."""
    from llama_cpp import llama_chat_format

    base = llama_chat_format.ImmutableSandboxedEnvironment

    class VerbatimEnvironment(base):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["autoescape"] = False
            super().__init__(*args, **kwargs)

    llama_chat_format.ImmutableSandboxedEnvironment = VerbatimEnvironment


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    state_file = Path(args.state_file)
    state = {
        "pid": os.getpid(), "port": port, "host": args.host, "alias": args.alias, "model_path": args.model,
        "n_threads": args.n_threads, "n_ctx": args.n_ctx, "token": args.token, "started_at": time.time(),
    }
    _write_state(state_file, state)
    print(f"workbench-serve: pid {os.getpid()} listening on {args.host}:{port}, loading {args.model}", file=sys.stderr, flush=True)

    import uvicorn
    from llama_cpp.server.app import create_app

    _render_chat_templates_unescaped()
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    model_settings = ModelSettings(
        model=args.model, model_alias=args.alias, n_ctx=args.n_ctx, n_threads=args.n_threads,
        n_threads_batch=args.n_threads, chat_format="chatml-function-calling", logits_all=False,
        seed=args.seed, verbose=False,
    )
    app = create_app(server_settings=ServerSettings(host=args.host, port=port), model_settings=[model_settings])
    info = {"pid": os.getpid(), "token": args.token, "alias": args.alias, "n_threads": args.n_threads}

    @app.get("/workbench/info")
    def workbench_info() -> dict:
        return info

    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30)
    server = uvicorn.Server(config)

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run(sockets=[sock])
    finally:
        try:
            current = json.loads(state_file.read_text("utf-8"))
            if current.get("pid") == os.getpid():
                state_file.unlink()
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    main()
