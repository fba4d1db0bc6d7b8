"""`pip install .` gives a working package: the wheel holds every subpackage, the built-in
families and the app's assets, and an install outside the checkout finds them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline from a copy of the sources (so the checkout gets no build/ dir)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("workbench", "families"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--disable-pip-version-check", "-w", str(out), str(src)], check=True, cwd=src)
    (path,) = out.glob("workbench-*.whl")
    return path


def test_the_wheel_holds_every_subpackage_the_families_and_the_assets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "workbench").rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(modules - names)
    assert not missing, f"not in the wheel (add the subpackage to [tool.setuptools] packages): {missing}"
    families = {f"workbench/builtin_families/{p.name}" for p in (ROOT / "families").glob("*.toml")}
    assets = {f"workbench/assets/{p.name}" for p in (ROOT / "workbench/assets").iterdir()}
    assert families and families <= names
    assert {"workbench/assets/bootstrap.min.css", "workbench/assets/keys.js"} <= assets <= names
    assert not [n for n in names if n.startswith(("tests/", "families/", "benchmarks/"))]


def fresh_venv(path: Path) -> tuple[Path, Path]:
    """A venv whose dependencies are the test environment's packages (a .pth after its own
    site-packages, so what is installed into it wins): nothing is downloaded."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, site


def pip_install(python: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                    "--disable-pip-version-check", *args], check=True)


def clean_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WORKBENCH_FAMILIES")}
    return {**env, "WORKBENCH_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_the_installed_wheel_works_outside_the_checkout(wheel, tmp_path):
    """A fresh venv (the test environment's packages serve as its dependencies, so nothing is
    downloaded) with only the wheel installed: the CLI runs, finds the built-in families from
    the package data, and the app serves its styles."""
    venv = tmp_path / "venv"
    python, site = fresh_venv(venv)
    pip_install(python, str(wheel))
    env = clean_env(tmp_path)

    def run(*args):
        return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    help_text = run(str(venv / "bin" / "workbench"), "--help")
    assert help_text.returncode == 0 and "demo" in help_text.stdout
    listing = run(str(venv / "bin" / "workbench"), "list")
    assert listing.returncode == 0, listing.stderr
    assert "families: modular_addition, modular_addition_demo" in listing.stdout
    probe = run(str(python), "-c", "\n".join([
        "import workbench, workbench.config as c",
        "from workbench.app import create_app",
        "client = create_app().server.test_client()",
        "print(workbench.__file__)",
        "print(c.BUILTIN_FAMILIES)",
        "print(client.get('/assets/workbench.css').status_code, client.get('/assets/bootstrap.min.css').status_code)"]))
    assert probe.returncode == 0, probe.stderr
    module, families, statuses = probe.stdout.strip().splitlines()[-3:]
    assert module.startswith(str(site)) and families == str(site / "workbench" / "builtin_families")
    assert statuses == "200 200"


@pytest.mark.slow
def test_the_editable_install_of_setup_sh_finds_the_package_and_the_families(tmp_path):
    """`./setup.sh` installs the checkout in editable mode: the mapping of families/ into the
    package must not break it."""
    python, _ = fresh_venv(tmp_path / "venv")
    pip_install(python, "--no-build-isolation", "-e", str(ROOT))
    probe = subprocess.run([str(python), "-c", "import workbench, workbench.pages, workbench.config as c; "
                            "from workbench.families import family_names; "
                            "print(workbench.__file__); print(c.BUILTIN_FAMILIES); print(family_names())"],
                           cwd=tmp_path, env=clean_env(tmp_path), capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    module, families, names = probe.stdout.strip().splitlines()
    assert module == str(ROOT / "workbench" / "__init__.py") and families == str(ROOT / "families")
    assert "'modular_addition_demo'" in names
