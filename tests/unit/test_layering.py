"""The package's layers and the one direction of imports between them (README "Layout").

domain ← use_cases ← {incident_io, aws, ingress + sources} ← {operator_tools, wiring} ← functions/*/app.py

Checked statically on every import statement (function-level and TYPE_CHECKING ones too), and by what
`explain` and the decision function really load.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "common" / "alert_courier"
INFRASTRUCTURE = ("boto3", "botocore", "mcp", "mcp_types", "httpx", "httpx2", "jsonschema", "aws_lambda_powertools")
# What each layer may import besides the standard library and itself.
ALLOWED: dict[str, tuple[str, ...]] = {
    "domain": ("pydantic", "jinja2", "yaml"),
    "use_cases": ("pydantic", "alert_courier.domain"),
}
# What each adapter layer must not import (adapters do not reach into each other or outwards).
OUTER = ("alert_courier.operator_tools", "alert_courier.wiring")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "incident_io": (
        *OUTER,
        "alert_courier.aws",
        "alert_courier.ingress",
        "alert_courier.sources",
        "alert_courier.settings",
    ),
    "aws": (*OUTER, "alert_courier.incident_io", "alert_courier.ingress", "alert_courier.sources"),
    "ingress": (*OUTER, "alert_courier.incident_io", "alert_courier.aws", "alert_courier.use_cases"),
    "sources": (*OUTER, "alert_courier.incident_io", "alert_courier.aws", "alert_courier.settings"),
}
# The incident.io modules a dry run needs to show exact tool calls: data and mappings, no client.
DRY_RUN_INCIDENT_IO = ("tool_table", "organisation", "tool_errors", "tool_results")  # pure: no SDK, no HTTP


def imported_modules(source: str) -> list[str]:
    modules: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports hide the layer they reach: the package uses absolute ones
                modules.append("." * node.level + (node.module or ""))
            elif node.module:
                modules.append(node.module)
    return modules


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(layer: str, source: str) -> list[str]:
    found = []
    for module in imported_modules(source):
        if module.startswith("."):
            found.append(f"relative import {module!r}")
            continue
        top = module.split(".")[0]
        own = is_under(module, f"alert_courier.{layer}")
        if layer in ALLOWED:
            allowed = own or top in sys.stdlib_module_names or any(is_under(module, p) for p in ALLOWED[layer])
            if not allowed:
                found.append(module)
        elif any(is_under(module, package) for package in FORBIDDEN.get(layer, ())):
            found.append(module)
    return found


def modules_of(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", [*ALLOWED, *FORBIDDEN])
def test_each_layer_imports_only_inwards(layer: str) -> None:
    assert modules_of(layer), f"no modules found for layer {layer}"
    problems = {
        str(path.relative_to(PACKAGE)): found
        for path in modules_of(layer)
        if (found := violations(layer, path.read_text()))
    }
    assert problems == {}


def test_the_check_would_fail_on_a_forbidden_import() -> None:
    assert violations("domain", "import boto3\nfrom alert_courier.aws.dynamodb_stores import GroupStateStore\n") == [
        "boto3",
        "alert_courier.aws.dynamodb_stores",
    ]
    assert violations("use_cases", "def f():\n    from alert_courier.incident_io.tool_errors import ToolCallError\n")
    assert violations("use_cases", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n")
    assert violations("incident_io", "from alert_courier.aws.api_key import ApiKeySource\n")
    assert violations("domain", "from .rules import RuleSet\n") == ["relative import '.rules'"]
    assert (
        violations("domain", "import json\nfrom pydantic import BaseModel\nfrom alert_courier.domain import alert\n")
        == []
    )


def test_packages_have_empty_inits() -> None:
    inits = [path for path in PACKAGE.rglob("__init__.py") if path.parent.name != "sources"]
    assert inits and all(path.read_text().strip() == "" for path in inits)


def test_explain_and_the_decision_load_no_infrastructure() -> None:
    """What a user dry-runs loads no AWS SDK, no MCP SDK, no HTTP client and no adapter module."""
    probe = (
        "import json, sys;"
        "from alert_courier.domain.rules import load_rules;"
        "from alert_courier.operator_tools.explain import alerts_from_document, explain;"
        "doc = json.load(open(sys.argv[1]));"
        "report = explain(alerts_from_document('alertmanager', doc), load_rules());"
        "assert report and report[0]['calls'];"
        "print(json.dumps(sorted(sys.modules)))"
    )
    sample = PACKAGE.parents[2] / "events" / "alertmanager" / "firing.json"
    completed = subprocess.run(
        [sys.executable, "-c", probe, str(sample)], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert [m for m in loaded if m.split(".")[0] in INFRASTRUCTURE] == []
    adapters = ("alert_courier.aws", "alert_courier.wiring", "alert_courier.use_cases", "alert_courier.settings")
    assert [m for m in loaded if any(is_under(m, package) for package in adapters)] == []
    dry_run = {"alert_courier.incident_io", *(f"alert_courier.incident_io.{name}" for name in DRY_RUN_INCIDENT_IO)}
    assert {m for m in loaded if is_under(m, "alert_courier.incident_io")} <= dry_run
    assert "alert_courier.domain.decisions" in loaded and "alert_courier.use_cases.courier" not in loaded
