import runpy
import shutil
import subprocess
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent


def bundle_assets() -> None:
    """Bundle the browser libraries (npm, in node_modules) into cryptocrunch/static/gen, with
    webassets and the bundle list the app itself uses. A clean clone runs `npm ci` first when npm
    is there; an sdist, which carries the bundles and no package.json, needs neither."""
    from webassets import Bundle, Environment

    static = ROOT / "cryptocrunch" / "static"
    node_modules = ROOT / "node_modules"
    bundles = runpy.run_path(str(ROOT / "cryptocrunch" / "bundles.py"))["BUNDLES"]
    if not node_modules.is_dir():
        if not (ROOT / "package-lock.json").exists():
            if all((static / output).exists() for _, output in bundles.values()):
                return  # an sdist: the bundles came built
            raise SystemExit(
                "neither node_modules nor the built bundles are here: build from a clone or an sdist"
            )
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                "building cryptocrunch from a clone needs npm (Node.js) for the browser libraries"
            )
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    env = Environment(str(static), "/static", load_path=[str(static), str(node_modules)])
    for name, (files, output) in bundles.items():
        env.register(name, Bundle(*files, output=output))
        env[name].build(force=True)


class build_py_with_assets(build_py):
    """A wheel carries the bundled browser libraries."""

    def run(self) -> None:
        if not self.editable_mode:
            bundle_assets()
        super().run()


class sdist_with_assets(sdist):
    """An sdist carries them too, so installing it needs no npm."""

    def run(self) -> None:
        bundle_assets()
        super().run()


setup(
    name="cryptocrunch",
    version="0.1.0",
    description="Self-hosted crypto price tracker: collect, analyse and chart exchange prices",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_namespace_packages(include=["cryptocrunch", "cryptocrunch.*"]),
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    cmdclass={"build_py": build_py_with_assets, "sdist": sdist_with_assets},
    install_requires=[
        "flask>=3.1",
        "flask-sqlalchemy>=3.1",
        "sqlalchemy>=2.0",
        "ccxt>=4.5",
        "backoff>=2.2",
        "requests>=2.32",
        "filelock>=3.13",
        "pandas>=2.2",
        "numpy>=1.26",
        "flask-smorest>=0.45",
        "flask-assets>=2.1",
        "swagger-ui-bundle>=1.1",
        # flask export: Parquet files, and uploads to S3 (or LocalStack, MinIO)
        "pyarrow>=15",
        "boto3>=1.34",
        # running as a service: flask worker's scheduler (4.x is pre-release, with another API), and
        # the production server make run uses
        "apscheduler>=3.11,<4",
        "gunicorn>=22",
        "prometheus-client>=0.20",  # /metrics (multiprocess mode under gunicorn)
        "python-json-logger>=3.1",  # LOG_FORMAT=json
        # accounts: sessions, forms with CSRF, password hashing, log-in limits, security headers
        "flask-login>=0.6.3",
        "flask-wtf>=1.2",
        "wtforms>=3.3",  # SelectChoice
        "argon2-cffi>=23.1",
        "flask-limiter>=3.8",
        "flask-talisman>=1.1",
        # notification channels: Apprise sends (2.x: notify() returns a result object), Fernet
        # encrypts the channel URLs at rest
        "apprise>=2.2,<3",
        "cryptography>=42",
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.2"],
        # RATELIMIT_STORAGE_URI=redis://... (log-in limits shared by every web worker) and
        # CACHE_REDIS_URL=redis://... (the API response cache shared by every web worker and machine)
        "redis": ["redis>=5"],
        "test": [
            "pytest>=8",
            # DuckDB: bench/stats.py's baseline; tests/test_benches.py runs every benchmark's smoke mode
            "duckdb>=1.0",
            "pytest-socket>=0.7",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "psycopg[binary]>=3.2",
            "redis>=5",
            "ruff>=0.6",
            # the type checker over cryptocrunch/ (outside views/) and the architecture's import contracts
            "mypy>=1.10",
            "pandas-stubs>=2.2",
            "types-requests>=2.32",
            "types-WTForms>=3.1",
            "import-linter>=2.3",
            "schemathesis>=4",
            "playwright>=1.45",
            # a real S3 endpoint on 127.0.0.1 for the export tests
            "moto[server]>=5.0",
            # a real SMTP server on 127.0.0.1 for the notification tests
            "aiosmtpd>=1.4",
        ],
    },
)
