"""The shape of the package that its speed depends on: the app starts without the heavy libraries,
and the settings know ccxt's exchanges without importing ccxt. (The layers' arrows and the absence
of import cycles are import-linter's contracts in pyproject.toml, run by `make test`.)"""

import json
import subprocess
import sys

import ccxt

from cryptocrunch.config import ccxt_exchange_ids

HEAVY = ("ccxt", "pandas", "numpy", "pyarrow", "boto3", "requests", "backoff", "apprise")


def test_the_settings_know_every_ccxt_exchange_without_importing_ccxt():
    assert ccxt_exchange_ids() == frozenset(ccxt.exchanges)


def test_create_app_and_a_cli_command_import_none_of_the_heavy_libraries(tmp_path):
    app = f"create_app({{'INSTANCE_PATH': {str(tmp_path)!r}}})"
    setup = f"from cryptocrunch import create_app; {app}.test_cli_runner().invoke(args=['init-db'])"
    subprocess.run([sys.executable, "-c", setup], check=True)
    script = f"""
import json, sys
from cryptocrunch import create_app
app = create_app({{"INSTANCE_PATH": {str(tmp_path)!r}}})
result = app.test_cli_runner().invoke(args=["runs"])
print(json.dumps([result.exit_code, result.output, [m for m in {HEAVY!r} if m in sys.modules]]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    exit_code, output, loaded = json.loads(out.stdout.splitlines()[-1])
    assert (exit_code, output.strip()) == (0, "no runs yet: run 'flask collect'")
    assert loaded == []


def test_the_first_api_request_loads_what_it_needs(tmp_path):
    script = f"""
import json, sys
from cryptocrunch import create_app
from cryptocrunch.db import db, init_db
app = create_app({{"INSTANCE_PATH": {str(tmp_path)!r}, "TESTING": True}})
with app.app_context():
    init_db()
status = app.test_client().get("/api/v1/rankings").status_code
print(json.dumps([status, [m for m in ("pandas", "numpy") if m in sys.modules]]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    status, loaded = json.loads(out.stdout.splitlines()[-1])
    assert status == 200
    assert loaded == ["pandas", "numpy"]
