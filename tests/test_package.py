"""`pip install .` gives a working app: the wheel carries templates and static files; a clean
clone (no node_modules, no bundles) builds with `npm ci` run by the build itself; an sdist
carries the bundles, so installing it needs no npm."""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = {"cryptocrunch/static/gen/vendor.js", "cryptocrunch/static/gen/app.js"}


def wheel_of(source: Path, into: Path, env=None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(into), str(source)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = into.glob("cryptocrunch-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


@pytest.mark.slow
def test_the_wheel_carries_templates_and_static_files(tmp_path):
    names = wheel_of(ROOT, tmp_path)
    # the build bundles the npm libraries itself: the wheel never needs node_modules
    assert names >= BUNDLES
    for path in ROOT.joinpath("cryptocrunch").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert str(path.relative_to(ROOT)) in names


@pytest.mark.slow
def test_a_clean_clone_builds_with_npm_and_its_sdist_without(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    assert not (clone / "node_modules").exists() and not (clone / "cryptocrunch/static/gen").exists()
    assert wheel_of(clone, tmp_path / "wheel") >= BUNDLES  # the build ran npm ci itself
    assert (clone / "node_modules").is_dir()

    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path / "sdist")],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    [archive] = (tmp_path / "sdist").glob("cryptocrunch-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    [unpacked] = (tmp_path / "unpacked").iterdir()
    assert not (unpacked / "package-lock.json").exists()
    no_npm = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # the venv's python, no npm
    assert shutil.which("npm", path=no_npm["PATH"]) is None
    assert wheel_of(unpacked, tmp_path / "from-sdist", env=no_npm) >= BUNDLES
