"""The two commands: `make test` installs the system programs it tests, as `make book` does."""

import shutil
import subprocess

import pytest

from attnmem_core.runner import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target, command", [("test", "-m pytest"), ("book", "-m attnmem_core.runner")])
def test_the_system_programs_are_installed_before_they_are_used(target, command):
    # before: `make test` as root skipped the four Apertium tests, since only `make book` installed Apertium
    plan = subprocess.run(
        ["make", "--dry-run", "--always-make", target], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    installs = plan.index("tools/system_packages.sh")
    assert installs < next(i for i, line in enumerate(plan) if command in line)
