"""The README's first-screen commands work as written, in a fresh shell, in a fresh clone."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT
from tests.readme import first_screen_commands


def test_the_first_screen_has_an_install_and_a_test_command():
    install, tests = first_screen_commands()
    assert "pip install" in install and "siamjax quickstart" in install
    assert "pytest" in tests and ".venv" in tests


@pytest.mark.slow
@pytest.mark.parametrize("which", [0, 1], ids=["install_and_quickstart", "tests"])
def test_readme_command_runs_in_a_fresh_clone(tmp_path, which):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", REPO_ROOT, str(clone)], check=True)
    command = first_screen_commands()[which]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    result = subprocess.run(["bash", "-c", command], cwd=clone, env=env, timeout=3600,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if which == 0:
        assert (clone / "runs" / "quickstart" / "report.json").is_file()
