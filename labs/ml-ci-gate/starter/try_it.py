"""Try your gate on a small demo repository: `python try_it.py`.

Builds a git repo of a churn model in a temporary folder (a base commit and four changes on top
of it), starts a fake deployment controller on 127.0.0.1 (a healthy canary: the stable and the
canary version fail about 1% of requests), runs `python ci.py` on each change like CI would and
prints the decision, the failing stage and the exit code. The grader uses other data, other
columns, other kinds of breaks and other canaries; see the brief.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA = {"columns": [
    {"name": "age", "dtype": "int", "nullable": False, "min": 18, "max": 95},
    {"name": "income_k", "dtype": "float", "nullable": True, "min": 0.0, "max": 500.0},
    {"name": "channel", "dtype": "str", "nullable": False, "allowed": ["web", "store", "app"]},
    {"name": "label", "dtype": "int", "nullable": False, "allowed": [0, 1]},
], "min_rows": 200}
MODEL = {"version": "v1", "bias": 0.0,
         "numeric": {"age": {"mean": 56.5, "std": 22.2, "weight": -0.8},
                     "income_k": {"mean": 250.0, "std": 144.3, "weight": 0.6}},
         "categorical": {"channel": {"web": 0.3, "store": -0.4, "app": 0.1}}}
SERVE = '''"""Serving code: one prediction per request."""


def predict(model, row):
    z = model["bias"]
    for name, p in model["numeric"].items():
        value = row.get(name)
        if value is None:
            value = p["mean"]
        z += p["weight"] * (value - p["mean"]) / p["std"]
    for name, table in model["categorical"].items():
        z += table.get(row.get(name), 0.0)
    return 1 if z > 0 else 0
'''


def _predict(model: dict, row: dict) -> int:
    namespace: dict = {}
    exec(SERVE, namespace)  # noqa: S102 - our own demo code
    return namespace["predict"](model, row)


def make_rows(rng: random.Random, n: int, model: dict, accuracy: float) -> list[dict]:
    rows = []
    for _ in range(n):
        row = {"age": rng.randint(18, 95), "income_k": None if rng.random() < 0.03 else round(rng.uniform(0, 500), 2),
               "channel": rng.choice(["web", "store", "app"])}
        prediction = _predict(model, row)
        row["label"] = prediction if rng.random() < accuracy else 1 - prediction
        rows.append(row)
    return rows


def to_csv(rows: list[dict], header: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if row.get(name) is None else row.get(name) for name in header])
    return out.getvalue()


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "demo", "GIT_AUTHOR_EMAIL": "demo@example.invalid",
           "GIT_COMMITTER_NAME": "demo", "GIT_COMMITTER_EMAIL": "demo@example.invalid"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def commit(repo: Path, parent: str | None, files: dict[str, str], message: str) -> str:
    if parent:
        git(repo, "checkout", "-q", "--detach", parent)
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


class Controller:
    """A healthy canary: POST /canary answers a window of 2000 requests, ~1% 5xx on both versions."""

    def __init__(self) -> None:
        rng = random.Random(7)
        self.log: list = []
        log = self.log

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                log.append((self.path, body.get("percent")))
                answer: dict = {"ok": True}
                if self.path == "/canary":
                    canary_n = 2000 * body["percent"] // 100
                    stable_n = 2000 - canary_n if canary_n < 2000 else 2000
                    errors = lambda n: sum(rng.random() < 0.01 for _ in range(n))  # noqa: E731
                    answer = {"percent": body["percent"], "stable": {"requests": stable_n, "errors": errors(stable_n)},
                              "canary": {"requests": canary_n, "errors": errors(canary_n)}}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def main() -> None:
    rng = random.Random(1)
    header = [c["name"] for c in SCHEMA["columns"]]
    ci_source = (HERE / "ci.py").read_text()
    with tempfile.TemporaryDirectory(prefix="ci-demo-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        base_rows = make_rows(rng, 400, MODEL, 0.85)
        base = commit(repo, None, {"data/schema.json": json.dumps(SCHEMA, indent=2), "data/eval.csv": to_csv(base_rows, header),
                                   "model.json": json.dumps(MODEL, indent=2), "serve.py": SERVE, "ci.py": ci_source},
                      "churn model v1")
        retrained = json.loads(json.dumps(MODEL))
        retrained["version"], retrained["numeric"]["age"]["weight"] = "v2", -0.75
        good_rows = make_rows(rng, 400, retrained, 0.85)
        no_column = [dict(r) for r in good_rows]
        nulls = [dict(r, age=None) if i % 50 == 0 else dict(r) for i, r in enumerate(good_rows)]
        worse = json.loads(json.dumps(MODEL))
        worse["version"], worse["numeric"]["income_k"]["weight"] = "v3", -0.6  # a sign flip in training
        changes = {
            "good change (retrained model)": {"model.json": json.dumps(retrained, indent=2),
                                              "data/eval.csv": to_csv(good_rows, header)},
            "data break: a column is missing": {"data/eval.csv": to_csv(no_column, [h for h in header if h != "channel"])},
            "data break: nulls in a non-nullable column": {"data/eval.csv": to_csv(nulls, header)},
            "accuracy drop": {"model.json": json.dumps(worse, indent=2)},
        }
        controller = Controller()
        for name, files in changes.items():
            head = commit(repo, base, files, name)
            controller.log.clear()
            report_path = Path(tmp) / "report.json"
            done = subprocess.run([sys.executable, str(HERE / "ci.py"), "--repo", str(repo), "--base", base, "--head", head,
                                   "--deploy-url", controller.url, "--report", str(report_path)],
                                  capture_output=True, text=True, timeout=120)
            print(f"== {name}: exit {done.returncode}")
            if report_path.exists():
                report = json.loads(report_path.read_text())
                print(f"   decision {report.get('decision')!r}, failed stage {report.get('failed_stage')!r}")
                for stage, info in (report.get("stages") or {}).items():
                    print(f"   {stage:8} {json.dumps(info)[:160]}")
                print(f"   deploy controller calls: {controller.log}")
                report_path.unlink()
            else:
                print("   no report written\n   " + "\n   ".join((done.stdout + done.stderr).strip().splitlines()[-6:]))
        controller.server.shutdown()
    workflow = HERE / ".github" / "workflows" / "ci.yml"
    checker = Path(sys.executable).parent / "check-jsonschema"
    if checker.exists():
        done = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(workflow)],
                              capture_output=True, text=True)
        print(f"== workflow schema: {(done.stdout + done.stderr).strip()}")


if __name__ == "__main__":
    main()
