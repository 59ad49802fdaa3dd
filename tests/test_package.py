"""`pip install .` gives a working app: the wheel carries templates and static files; a clean
clone (no node_modules, no bundles) installs into a fresh venv, the build running `npm ci` itself,
and serves its pages and bundles from there; an sdist carries the bundles, so installing it needs
no npm."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
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


SERVE = """
import json, os, sys
import cryptocrunch
from cryptocrunch import create_app
app = create_app()
client = app.test_client()
print(json.dumps({
    "file": cryptocrunch.__file__,
    "home": client.get("/").status_code,
    "vendor": len(client.get("/static/gen/vendor.js").data),
}))
"""


def fresh_venv(at: Path) -> Path:
    """A new venv whose dependencies are this one's (tests use no network): a .pth names this
    environment's site-packages after the venv's own, so pip resolves the requirements to them
    and installs only cryptocrunch itself into the venv."""
    subprocess.run([sys.executable, "-m", "venv", str(at)], check=True)
    [site] = (at / "lib").glob("python*/site-packages")
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return at / "bin" / "python"


@pytest.mark.slow
def test_a_clean_clone_installs_into_a_fresh_venv_with_npm_and_its_sdist_without(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    assert not (clone / "node_modules").exists() and not (clone / "cryptocrunch/static/gen").exists()
    python = fresh_venv(tmp_path / "venv")
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(clone)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-3000:]  # the build ran npm ci itself
    assert (clone / "node_modules").is_dir()
    env = {
        **os.environ,
        "CRYPTOCRUNCH_INSTANCE_PATH": str(tmp_path / "instance"),
        "FLASK_APP": "cryptocrunch",
    }
    env.pop("CRYPTOCRUNCH_SQLALCHEMY_DATABASE_URI", None)  # the instance's own SQLite
    made = subprocess.run(
        [str(python), "-m", "flask", "init-db"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert made.returncode == 0, made.stderr[-3000:]
    served = subprocess.run([str(python), "-c", SERVE], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert served.returncode == 0, served.stderr[-3000:]
    answer = json.loads(served.stdout)
    assert answer["file"].startswith(str(tmp_path / "venv"))  # the installed copy, not this checkout
    assert answer["home"] == 200 and answer["vendor"] > 100_000  # Chart.js and the rest, bundled

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
