"""The wheel, installed in a fresh virtualenv: init, generate and render from an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from helpers import REPO


def files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder` with its bytes and modification time."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A command, captured; fails the test with its stderr if it fails."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    return result


def test_wheel_in_a_fresh_venv_works_from_an_empty_folder(tmp_path: Path) -> None:
    """Built and installed, qupsample writes only into the folder it is told, byte for byte."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_NO_INDEX"] = "1"
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", dist, REPO], tmp_path, env)  # fmt: skip
    wheel = next(dist.glob("qupsample-*.whl"))
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                    tmp_path, env).stdout.strip())  # fmt: skip
    # The dependencies come from this test environment (appended to sys.path, after the
    # wheel); qupsample itself only from the wheel.
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
        tmp_path, env)  # fmt: skip
    installed = run([python, "-c", "import qupsample; print(qupsample.__file__)"], tmp_path, env)
    assert installed.stdout.startswith(str(site))
    package_before = files(site / "qupsample")
    repo_before = files(REPO / "generated")
    qupsample = venv / "bin" / "qupsample"
    work = tmp_path / "work"
    work.mkdir()

    refused = subprocess.run(
        [qupsample, "generate"], cwd=work, env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "qupsample init" in refused.stderr
    rendered = run([qupsample, "render", "aggressive", "heavy_code"], work, env).stdout
    committed = REPO / "generated" / "quality_upsampling" / "heavy_code" / "aggressive.yaml"
    assert rendered == committed.read_text()
    run([qupsample, "init", "mine"], work, env)
    run([qupsample, "generate"], work / "mine", env)
    generated = files(work / "mine" / "generated")
    assert {p: data for p, (data, _) in generated.items()} == {
        p: data for p, (data, _) in repo_before.items()
    }
    assert sorted(p.name for p in work.iterdir()) == ["mine"]
    assert files(site / "qupsample") == package_before
    assert files(REPO / "generated") == repo_before
