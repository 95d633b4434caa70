"""The recipes ship inside the wheel, so `rllab train cartpole-dqn` works from a regular install."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_packages_recipes_and_scripts(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    recipes = {p.name for p in (ROOT / "agents").glob("*.toml")}
    assert recipes and {f"rllab/agents/{r}" for r in recipes} <= names
    assert {"labcore/run.py", "rllab/dqn.py", "rllab/cli.py"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "rllab = rllab.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
