"""The README's set-up commands do the whole set-up: system packages for `make test`, none of SAM for `make unit`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

INSTALLER = REPO_ROOT / ".ci" / "install-system-packages"


def fake_bin(tmp_path: Path, *, uid: int, sudo: bool = False, alertmanager: bool = False) -> Path:
    """A PATH holding only fakes of what the installer calls; each records its arguments in calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    scripts = {"id": f"echo {uid}", "apt-get": f'echo "apt-get $*" >> {log}'}
    if sudo:
        scripts["sudo"] = f'echo "sudo $*" >> {log}; [ "$1" = -n ] && shift; [ "$1" = true ] || "$@"'
    if alertmanager:
        scripts["prometheus-alertmanager"] = "exit 0"
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (bin_dir / "env").symlink_to("/usr/bin/env")
    return bin_dir


def run_installer(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(INSTALLER)],
        env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/")},
        capture_output=True,
        text=True,
        timeout=30,
    )


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_root_installs_alertmanager_when_it_is_missing(tmp_path: Path) -> None:
    completed = run_installer(fake_bin(tmp_path, uid=0))
    assert completed.returncode == 0, completed.stderr
    assert calls(tmp_path) == ["apt-get update -qq", "apt-get install -y -qq prometheus-alertmanager"]


def test_a_user_with_sudo_installs_through_it(tmp_path: Path) -> None:
    completed = run_installer(fake_bin(tmp_path, uid=1000, sudo=True))
    assert completed.returncode == 0, completed.stderr
    assert "apt-get install -y -qq prometheus-alertmanager" in calls(tmp_path)
    assert any(line.startswith("sudo -n") and "apt-get install" in line for line in calls(tmp_path))


def test_a_user_who_cannot_install_gets_one_line_saying_what_to_run(tmp_path: Path) -> None:
    completed = run_installer(fake_bin(tmp_path, uid=1000))
    assert completed.returncode != 0
    [line] = completed.stderr.strip().splitlines()
    assert "sudo apt-get install prometheus-alertmanager" in line
    assert calls(tmp_path) == []


def test_nothing_is_installed_when_alertmanager_is_there(tmp_path: Path) -> None:
    completed = run_installer(fake_bin(tmp_path, uid=0, alertmanager=True))
    assert completed.returncode == 0 and calls(tmp_path) == []


def make_dry_run(*targets: str) -> str:
    return subprocess.run(
        ["make", "-n", "-B", *targets], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=True
    ).stdout


def test_make_test_installs_system_packages_and_ci_runs_make_test() -> None:
    assert ".ci/install-system-packages" in make_dry_run("test")
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_make_unit_needs_no_sam_cli_and_no_system_packages() -> None:
    plan = make_dry_run("unit")
    assert "aws-sam-cli" not in plan and ".venv-sam" not in plan and "install-system-packages" not in plan
    assert '-m "not slow and not faults"' in plan


@pytest.mark.parametrize("args", ["--quick --only coldstart", "--help"])
def test_make_bench_passes_its_options_through_args(args: str) -> None:
    assert f"-m alert_courier_local.bench {args}" in make_dry_run("bench", f"ARGS={args}")
