"""CI proves the README: the test command it runs is the README's, character for character."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(\./setup\.sh[^\n]*)\n```", readme)
    assert len(commands) == 2, "the README has exactly two fresh-machine commands"
    ci_lines = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line.startswith("./setup.sh")]
    assert ci_lines == [commands[1]]
    assert "workbench demo" in commands[0]
