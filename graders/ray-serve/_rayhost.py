"""The Ray host: started by the ray-serve grader INSIDE the learner sandbox (`python -c` with
this file's text), in the learner's folder. It starts a local Ray instance on 127.0.0.1 and
Serve's HTTP proxy on the port it is given, then follows the grader's commands, one JSON object
per line on stdin: deploy (import the learner's `embed_service` and `serve.run` its
`build_app(args)`), status, config (each deployment's config as Serve's controller holds it), shutdown. Answers go to the original stdout as "@@wb {json}" lines;
everything else anybody prints goes to stderr (the grader's log)."""

import json
import os
import sys
import time
import traceback

_protocol = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def _answer(request_id=None, **fields):
    _protocol.write("@@wb " + json.dumps({"id": request_id, **fields}) + "\n")
    _protocol.flush()


def _main(port, num_cpus):
    started = time.monotonic()
    import ray
    from ray import serve

    imported = time.monotonic()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 1024 * 1024)
    ray_up = time.monotonic()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    _answer(event="ready", import_s=imported - started, ray_init_s=ray_up - imported,
            serve_start_s=time.monotonic() - ray_up)
    module = None
    for line in sys.stdin:
        command = json.loads(line)
        name = command.get("cmd")
        request_id = command.get("id")
        try:
            if name == "deploy":
                if module is None:
                    sys.path.insert(0, os.getcwd())
                    import embed_service as module  # noqa: PLC0415
                app = module.build_app(dict(command["args"]))
                begun = time.monotonic()
                serve.run(app, name="embed", route_prefix="/embed")
                _answer(request_id, ok=True, deploy_s=time.monotonic() - begun)
            elif name == "status":
                status = serve.status().applications.get("embed")
                deployments = {} if status is None else {
                    dep_name: {"status": str(dep.status.value), "replicas": dict(dep.replica_states)}
                    for dep_name, dep in status.deployments.items()}
                _answer(request_id, ok=True, app=None if status is None else str(status.status.value), deployments=deployments)
            elif name == "config":
                from ray.serve.context import _get_global_client  # noqa: PLC0415

                app = _get_global_client().get_serve_details().get("applications", {}).get("embed") or {}
                configs = {dep_name: dep.get("deployment_config", {})
                           for dep_name, dep in (app.get("deployments") or {}).items()}
                _answer(request_id, ok=True, configs=json.loads(json.dumps(configs, default=str)))
            elif name == "shutdown":
                try:
                    serve.shutdown()
                finally:
                    ray.shutdown()
                _answer(request_id, ok=True)
                return
            else:
                _answer(request_id, ok=False, error=f"unknown command {name!r}")
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the grader
            _answer(request_id, ok=False, error=f"{type(exc).__name__}: {exc}"[:3000], trace=traceback.format_exc()[-3000:])


_main(int(sys.argv[1]), int(sys.argv[2]))
