"""CI proves the README: the test command it runs is the README's, character for character (then
the `numerics` tests again on torch's generic CPU kernels); and
the README and docs/ link only to files (and headings) that exist in a clone."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(\./setup\.sh[^\n]*)\n```", readme)
    assert len(commands) == 2, "the README has exactly two fresh-machine commands"
    ci_lines = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line.startswith("./setup.sh")]
    assert ci_lines == [commands[1]]
    assert "workbench demo" in commands[0]


def test_ci_reruns_the_numerics_tests_on_torchs_generic_kernels():
    ci = (ROOT / ".ci/run").read_text()
    second = [line.strip() for line in ci.splitlines() if "ATEN_CPU_CAPABILITY=default" in line and "pytest" in line]
    assert second == ['ATEN_CPU_CAPABILITY=default .venv/bin/python -m pytest -q -m "numerics and not browser"']
    assert '"numerics:' in (ROOT / "pyproject.toml").read_text()       # a registered marker, not a typo


def test_the_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150, "move details into docs/"


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file_and_heading(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_file() or ROOT not in file.parents:
            broken.append(f"{target} (no such file in the repository)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no heading #{anchor} in {file.name})")
    assert not broken, f"{page.name}: {broken}"
