"""`pip install .` gives a working app: the wheel carries templates and static files."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_carries_templates_and_static_files(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("cryptocrunch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # the build bundles the npm libraries itself: the wheel never needs node_modules
    assert {"cryptocrunch/static/gen/vendor.js", "cryptocrunch/static/gen/app.js"} <= names
    for path in ROOT.joinpath("cryptocrunch").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert str(path.relative_to(ROOT)) in names
