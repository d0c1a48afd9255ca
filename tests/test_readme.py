"""The README's set-up commands are the ones CI runs (a drifting README would go untested)."""

import re


def test_ci_runs_the_readme_test_command(repo_root):
    readme = (repo_root / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    ci_lines = [line for line in (repo_root / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    test_command = ci_lines[-1]
    assert "pytest" in test_command
    assert any(test_command in block for block in blocks), "README must show the exact test command CI runs"
