"""Cold start: import + module-level init of each function in fresh processes, against a boto3 baseline.

Each sample is one new interpreter that sets the environment the template gives the function (plus what
Lambda itself sets, so the Powertools Tracer is on and patches as it would in AWS), puts the function's
code directory first on sys.path, imports `app` (which builds every module-level object: settings,
boto3 clients, the MCP client object) and reports the time from its first line to the end of the import.
Interpreter start-up is excluded from that number (it is the same for every subject) but kept as `wall`.
No network is needed: AWS_ENDPOINT_URL points at a closed local port and nothing connects at import.

Variants:
- ``dev``: the dev venv, whose site-packages carry compiled bytecode (`.pyc`) from earlier runs;
- ``artefact-nopyc``: the layer's dependency closure and our package copied without any `__pycache__`,
  run with `-I -S -B` so nothing is compiled to disk: what `sam build` ships, since it writes no `.pyc`;
- ``artefact-compiled``: the same copy after `compileall --invalidation-mode unchecked-hash`, the fix
  platform notes §3.4 recommends.
`.aws-sam/build` itself is arm64 (aarch64 wheels) and cannot be imported on this x86_64 machine, so the
artefact variants use the dev venv's (x86_64) copies of exactly the distributions the layer pins.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .common import FUNCTIONS_DIR, LAYER_DIR, summary

SUBJECTS = ("baseline", "ingest-floor", "ingest", "dispatch", "dispatch+sdk")
FUNCTION_IDS = {"ingest": "IngestFunction", "dispatch": "DispatchFunction"}
# Extra rows, each measured in its function's environment: what ingest cannot go below with the stack it is built
# on, and what dispatch's first tool call adds by importing the MCP SDK (deferred, so not in dispatch's init).
SUBJECT_FUNCTION = {"ingest": "ingest", "dispatch": "dispatch", "ingest-floor": "ingest", "dispatch+sdk": "dispatch"}
TARGETS = {"ingest": 1.5, "dispatch": 2.5}  # × the baseline's median (issue 8)
VARIANTS = ("dev", "artefact-nopyc", "artefact-compiled")
VARIANT_TITLES = {
    "dev": "dev venv (.pyc cached)",
    "artefact-nopyc": "layer copy, no .pyc (as sam build ships it)",
    "artefact-compiled": "layer copy + compileall (unchecked-hash)",
}
CLOSED_ENDPOINT = "http://127.0.0.1:9"  # discard port: refused at once if anything tried to connect
EXTRA_RUNTIME_PACKAGES = ("boto3",)  # provided by the Lambda runtime, not by our layer

# The child: everything between _t0 and _ms is what a Lambda INIT would run for the handler module.
CHILD = """
import sys, time
_t0 = time.perf_counter()
{audit}
sys.path[:0] = {paths!r}
{body}
_ms = (time.perf_counter() - _t0) * 1000
import json, os
sys.stdout.write(json.dumps({{"ms": _ms, "modules": len(sys.modules), "connects": {connects}}}) + "\\n")
sys.stdout.flush()
os._exit(0)
"""
BASELINE_BODY = "import boto3\nboto3.client('sqs')"
FUNCTION_BODY = "import app"
# The libraries ingest is built on, initialised as ingest does, with none of our code.
INGEST_FLOOR_BODY = """import boto3
boto3.client('sqs')
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel
Logger(); Metrics(); Tracer(patch_modules=['botocore']); APIGatewayHttpResolver()
parameters.SecretsProvider(boto3_client=boto3.client('secretsmanager'))
class Model(BaseModel):
    value: int"""
DISPATCH_WITH_SDK_BODY = "import app\nfrom alert_courier.incident_io.mcp_client import load_sdk\nload_sdk()"
BODIES = {
    "baseline": BASELINE_BODY,
    "ingest-floor": INGEST_FLOOR_BODY,
    "ingest": FUNCTION_BODY,
    "dispatch": FUNCTION_BODY,
    "dispatch+sdk": DISPATCH_WITH_SDK_BODY,
}
AUDIT = """_connects = []
def _audit(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple):
        _connects.append(str(args[1]))
sys.addaudithook(_audit)"""


@dataclass
class Variant:
    name: str
    python_flags: list[str]
    layer_path: Path | None  # None: the dev venv's own site-packages and editable install
    code_root: Path


@dataclass
class SubjectResult:
    samples_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    modules: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"samples_ms": [round(s, 1) for s in self.samples_ms], "modules": self.modules}
        if self.samples_ms:
            out["import_init_ms"] = {k: round(v, 1) for k, v in summary(self.samples_ms).items()}
            out["process_wall_ms"] = {k: round(v, 1) for k, v in summary(self.wall_ms).items()}
        if self.error:
            out["error"] = self.error
        return out


# --------------------------------------------------------------------------------------- environment


def function_environment(logical_id: str) -> dict[str, str]:
    """The variables template.yaml gives this function, resolved against local stand-in values."""
    from alert_courier_local.template_model import functions, load_template, parameter_defaults, resolve

    template = load_template()
    refs = {name: str(value) for name, value in parameter_defaults(template).items() if value is not None}
    for name, resource in (template.get("Resources") or {}).items():
        kind = resource.get("Type")
        if kind == "AWS::SQS::Queue":
            queue = f"alert-courier-{name}.fifo"
            refs.update(
                {
                    name: f"{CLOSED_ENDPOINT}/123456789012/{queue}",
                    f"{name}.QueueName": queue,
                    f"{name}.Arn": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                }
            )
        elif kind == "AWS::DynamoDB::Table":
            refs[name] = f"alert-courier-{name}"
    (spec,) = [f for f in functions(template) if f.logical_id == logical_id]
    return {key: resolve(value, refs) for key, value in spec.environment.items()}


def child_environment(subject: str, code_dir: Path, passthrough: dict[str, str]) -> dict[str, str]:
    env = {
        **passthrough,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": CLOSED_ENDPOINT,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(code_dir),  # makes the Powertools Tracer behave as in Lambda (on)
        "AWS_LAMBDA_FUNCTION_NAME": f"alert-courier-{subject}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "_HANDLER": "app.lambda_handler",
    }
    if subject in SUBJECT_FUNCTION:
        env.update(function_environment(FUNCTION_IDS[SUBJECT_FUNCTION[subject]]))
    return env


def _passthrough_environment() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")
    return {name: os.environ[name] for name in keep if name in os.environ}


# --------------------------------------------------------------------------------------- one process


def child_code(subject: str, variant: Variant, *, audit: bool = False) -> str:
    paths: list[str] = []
    if subject in SUBJECT_FUNCTION:
        paths.append(str(variant.code_root / SUBJECT_FUNCTION[subject]))
    if variant.layer_path is not None:
        paths.append(str(variant.layer_path))
    return CHILD.format(
        audit=AUDIT if audit else "",
        paths=paths,
        body=BODIES[subject],
        connects="_connects" if audit else "None",
    )


def run_child(
    subject: str, variant: Variant, env: dict[str, str], extra_flags: Iterable[str] = (), *, audit: bool = False
) -> tuple[dict[str, Any], float, str]:
    """(the child's JSON, wall ms of the whole process, stderr); raises RuntimeError when it fails."""
    code_dir = variant.code_root / SUBJECT_FUNCTION[subject] if subject in SUBJECT_FUNCTION else variant.code_root
    cmd = [sys.executable, *variant.python_flags, *extra_flags, "-c", child_code(subject, variant, audit=audit)]
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=code_dir, capture_output=True, text=True, timeout=120, check=False)
    wall = (time.perf_counter() - started) * 1000
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise RuntimeError(last[:300])
    return json.loads(lines[-1]), wall, result.stderr


# --------------------------------------------------------------------------------------- artefact copy


def _dist_key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_closure(requirements: Path) -> tuple[list[metadata.Distribution], list[str]]:
    """The installed distributions the layer's requirements pull in (with extras), and what is missing."""
    from packaging.requirements import Requirement

    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    pending = [Requirement(line) for line in lines if line and not line.startswith("-")]
    pending += [Requirement(name) for name in EXTRA_RUNTIME_PACKAGES]
    extras_seen: dict[str, set[str]] = {}
    found: dict[str, metadata.Distribution] = {}
    missing: list[str] = []
    while pending:
        requirement = pending.pop()
        key = _dist_key(requirement.name)
        extras = set(requirement.extras)
        if key in extras_seen and extras <= extras_seen[key]:
            continue
        extras_seen.setdefault(key, set()).update(extras)
        try:
            dist = found.get(key) or metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(requirement.name)
            continue
        found[key] = dist
        for text in dist.requires or []:
            dependency = Requirement(text)
            wanted = extras_seen[key] or {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in wanted):
                pending.append(dependency)
    return list(found.values()), sorted(set(missing))


def _without_bytecode(path: str, names: list[str]) -> set[str]:
    return {name for name in names if name == "__pycache__" or name.endswith(".pyc")}


def build_artefact(root: Path) -> tuple[Path, dict[str, Any]]:
    """root/opt/python (layer: dependency closure + alert_courier) and root/task/<fn> (function code)."""
    site = root / "opt" / "python"
    site.mkdir(parents=True)
    dists, missing = layer_closure(LAYER_DIR / "requirements.txt")
    files = 0
    for dist in dists:
        for entry in dist.files or []:
            if entry.parts[0] == ".." or "__pycache__" in entry.parts or entry.suffix == ".pyc":
                continue
            source = Path(str(entry.locate()))
            if not source.is_file():
                continue
            target = site / entry
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            files += 1
    shutil.copytree(LAYER_DIR / "alert_courier", site / "alert_courier", ignore=_without_bytecode)
    for subject in FUNCTION_IDS:
        shutil.copytree(FUNCTIONS_DIR / subject, root / "task" / subject, ignore=_without_bytecode)
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    info = {
        "distributions": sorted(f"{d.metadata['Name']}=={d.version}" for d in dists),
        "missing": missing,
        "files": files,
        "megabytes": round(size / 1e6, 1),
        "pyc_files": sum(1 for _ in root.rglob("*.pyc")),
    }
    return site, info


def compile_tree(root: Path) -> None:
    cmd = [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(root)]
    subprocess.run(cmd, capture_output=True, check=False, timeout=600)


# --------------------------------------------------------------------------------------- importtime


def import_profile(stderr: str) -> dict[str, float]:
    """`-X importtime` output → self time (ms) summed by top-level package."""
    by_package: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, _cumulative, name = (part.strip() for part in re.split(r"[:|]", line, maxsplit=3))
        by_package[name.split(".")[0]] += int(self_us) / 1000
    return dict(by_package)


def offenders(function_profile: dict[str, float], baseline_profile: dict[str, float], top: int = 8) -> list[Any]:
    """Packages whose import time the function adds on top of the baseline, largest first."""
    excess = {pkg: ms - baseline_profile.get(pkg, 0.0) for pkg, ms in function_profile.items()}
    ranked = sorted(excess.items(), key=lambda item: item[1], reverse=True)
    return [[pkg, round(ms, 1)] for pkg, ms in ranked[:top] if ms >= 1.0]


def diagnose(variant: Variant, envs: dict[str, dict[str, str]], runs: int) -> dict[str, Any]:
    """`-X importtime` runs per subject (with a socket audit hook): what dominates, and that nothing connects.

    Each package's self time is its minimum over `runs` processes, so one slow run on a busy machine does
    not make a package the baseline also imports look like an addition.
    """
    profiles: dict[str, dict[str, float]] = {}
    connects: dict[str, Any] = {}
    for subject in ("baseline", *FUNCTION_IDS):
        seen: list[dict[str, float]] = []
        made: list[str] = []
        for _ in range(runs):
            try:
                child, _, stderr = run_child(subject, variant, envs[subject], ["-X", "importtime"], audit=True)
            except RuntimeError as error:
                made.append(f"failed: {error}")
                break
            seen.append(import_profile(stderr))
            made.extend(child.get("connects") or [])
        connects[subject] = sorted(set(made))
        if seen:
            packages = set().union(*seen)
            profiles[subject] = {pkg: min(p.get(pkg, 0.0) for p in seen) for pkg in packages}
    baseline = profiles.get("baseline", {})
    return {
        "network_connects_during_init": connects,
        "import_self_ms_total": {s: round(sum(p.values()), 1) for s, p in profiles.items()},
        "top_added_over_baseline_ms": {s: offenders(profiles[s], baseline) for s in FUNCTION_IDS if s in profiles},
    }


# --------------------------------------------------------------------------------------- the section


def measure_variant(
    variant: Variant, envs: dict[str, dict[str, str]], runs: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    results = {subject: SubjectResult() for subject in SUBJECTS}
    for subject in SUBJECTS:  # warm-up: OS file cache, and the dev venv's own .pyc for our code
        try:
            run_child(subject, variant, envs[subject])
        except RuntimeError as error:
            results[subject].error = str(error)
    for round_no in range(runs):
        progress(f"cold start [{variant.name}] round {round_no + 1}/{runs}")
        for subject in SUBJECTS:  # interleaved, so drift in machine load hits every subject alike
            if results[subject].error:
                continue
            try:
                child, wall, _ = run_child(subject, variant, envs[subject])
            except RuntimeError as error:
                results[subject].error = str(error)
                continue
            results[subject].samples_ms.append(float(child["ms"]))
            results[subject].wall_ms.append(wall)
            results[subject].modules = int(child["modules"])
    out: dict[str, Any] = {"title": VARIANT_TITLES[variant.name]}
    out["subjects"] = {subject: result.as_dict() for subject, result in results.items()}
    baseline = results["baseline"].samples_ms
    for subject in SUBJECTS[1:]:
        samples = results[subject].samples_ms
        if baseline and samples:
            ratio = summary(samples)["median"] / summary(baseline)["median"]
            out["subjects"][subject]["ratio"] = round(ratio, 2)
            if subject in TARGETS:
                target = TARGETS[subject]
                out["subjects"][subject].update(target=target, target_met=ratio <= target)
    return out


def describe_sam_build(build_dir: Path) -> str | None:
    """What `sam build` produced, if it ran: arm64 and without bytecode, hence the copy measured instead."""
    if not build_dir.is_dir():
        return None
    native = list(build_dir.rglob("*.so"))[:50]
    arm = sum(1 for p in native if p.read_bytes()[18:20] == (183).to_bytes(2, "little"))  # EM_AARCH64
    pyc = sum(1 for _ in build_dir.rglob("*.pyc"))
    return (
        f"present ({arm} of {len(native)} sampled native modules are aarch64, {pyc} .pyc files): "
        "not importable on this machine, so the layer copy stands in for it"
    )


def run(
    *,
    runs: int,
    variants: Iterable[str] = VARIANTS,
    diagnosis_runs: int = 3,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    passthrough = _passthrough_environment()
    section: dict[str, Any] = {"runs": runs, "variants": {}}
    section["aws_sam_build"] = describe_sam_build(FUNCTIONS_DIR.parent / ".aws-sam" / "build")
    artefact_root = Path(tempfile.mkdtemp(prefix="alert-courier-bench-"))
    try:
        dev = Variant("dev", [], None, FUNCTIONS_DIR)
        wanted = [name for name in VARIANTS if name in set(variants)]  # no-.pyc must run before compileall
        site: Path | None = None
        for name in wanted:
            if name == "dev":
                variant = dev
            else:
                if site is None:
                    progress("cold start: copying the layer's dependency closure without bytecode")
                    site, section["artefact"] = build_artefact(artefact_root)
                if name == "artefact-compiled":
                    progress("cold start: compileall --invalidation-mode unchecked-hash on the copy")
                    compile_tree(artefact_root)
                variant = Variant(name, ["-I", "-S", "-B"], site, artefact_root / "task")
            envs = {
                s: child_environment(
                    s,
                    variant.code_root / SUBJECT_FUNCTION[s] if s in SUBJECT_FUNCTION else variant.code_root,
                    passthrough,
                )
                for s in SUBJECTS
            }
            if variant.layer_path is not None:
                for env in envs.values():
                    env.pop("PYTHONPATH", None)
            section["variants"][name] = measure_variant(variant, envs, runs, progress)
            if name == "dev":
                progress("cold start: python -X importtime diagnosis")
                section["diagnosis"] = diagnose(variant, envs, diagnosis_runs)
    finally:
        shutil.rmtree(artefact_root, ignore_errors=True)
    return section
