"""Shared fixtures: an isolated data root per test and one tiny trained variant per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import workbench  # noqa: F401 - before torch: sets what torch reads when it loads (workbench.threads)
import torch  # noqa: E402

TEST_FAMILIES = Path(__file__).parent / "families"

# Tests compare histories bit for bit; one thread keeps float reductions in one order and keeps
# the suite from oversubscribing the 2 cores when pytest runs alongside other work.
torch.set_num_threads(1)


# Tests whose numbers come from torch's CPU kernels: those on the session's tiny run and those
# marked `numerics` (they train or analyse a model). CI (.ci/run) runs the whole suite on the
# machine's own kernels, then these again on torch's generic ones (ATEN_CPU_CAPABILITY=default),
# so an assertion that holds only for one CPU's rounding fails in CI, not on a user's machine.
TINY_RUN = {"tiny_trained", "tiny_analyzed"}


def pytest_collection_modifyitems(items):
    for item in items:
        if TINY_RUN & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.numerics)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_FAMILIES", str(TEST_FAMILIES))
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "data"))


@pytest.fixture
def store(tmp_path):
    from workbench.store import Store
    return Store(tmp_path / "data")


@pytest.fixture
def write_family(tmp_path, monkeypatch):
    """A directory of family files searched before the test families: write_family(name, text)."""
    directory = tmp_path / "families"
    directory.mkdir()
    monkeypatch.setenv("WORKBENCH_FAMILIES", f"{directory}{os.pathsep}{TEST_FAMILIES}")

    def write(name: str, text: str | bytes) -> str:
        path = directory / f"{name}.toml"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return name
    return write


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory):
    """The tiny family trained to the end once per session: (store, variant)."""
    import os
    from workbench.families import load_family
    from workbench.store import Store
    from workbench.training import train
    os.environ["WORKBENCH_FAMILIES"] = str(TEST_FAMILIES)
    store = Store(tmp_path_factory.mktemp("tiny") / "data")
    variant = load_family("tiny_addition").variant()
    train(variant, store, progress=False)
    return store, variant


@pytest.fixture(scope="session")
def tiny_analyzed(tiny_trained):
    """The tiny trained variant with every built-in analyzer run: (store, ref)."""
    from workbench.pipeline import analyze
    from workbench.store import VariantRef
    store, variant = tiny_trained
    ref = VariantRef(variant.family, variant.id)
    analyze(ref, store, progress=False, workers=1)
    return store, ref


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium for one test module (skips the module where Chromium is missing)."""
    from browser import chromium_driver
    driver = chromium_driver(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served_app(tiny_analyzed):
    """The app on the tiny analyzed variant, served on a free loopback port for one browser test
    module: (app, store, ref)."""
    from browser import ServedApp
    store, ref = tiny_analyzed
    app = ServedApp(store.root)
    yield app, store, ref
    app.close()
