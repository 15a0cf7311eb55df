import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlship import __version__
from tests.support import run_mlship


def test_help_lists_the_commands():
    proc = run_mlship("--help")
    assert proc.returncode == 0
    for command in ("init", "config", "train", "predict"):
        assert command in proc.stdout


def test_help_shows_flags_without_a_type_and_options_with_their_value():
    """A flag takes no value: `--json`, not `--json <bool>`; an option shows what it takes."""
    proc = run_mlship("build", "--help")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip().startswith("-")}
    assert "<bool>" not in proc.stdout
    assert lines["--json"].split()[1] == "Print"
    assert lines["--gpu"].startswith("  --gpu / --no-gpu  Force")
    assert "--tag <str>" in lines["-t,"]


def test_version():
    proc = run_mlship("--version")
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_unknown_command_is_a_usage_error():
    proc = run_mlship("no-such-command")
    assert proc.returncode == 2
    assert "No such command" in proc.stderr


def test_unknown_option_is_a_usage_error():
    proc = run_mlship("init", "--no-such-option")
    assert proc.returncode == 2


def test_help_does_not_import_heavy_modules():
    # `mlship --help` must answer at once: the heavy libraries load inside the commands that need them.
    code = (
        "import sys\n"
        "from mlship.cli import app\n"
        "heavy = ['docker', 'nbconvert', 'jinja2', 'pandas', 'cookiecutter', 'pydantic', 'sklearn', 'yaml']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_expected_errors_have_no_traceback_unless_debug(tmp_path):
    proc = run_mlship("config", str(tmp_path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "no mlship.yaml" in proc.stderr
    assert "hint:" in proc.stderr
    debug = run_mlship("--debug", "config", str(tmp_path))
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr


def test_json_errors_are_one_json_object_on_stdout(tmp_path):
    proc = run_mlship("config", str(tmp_path), "--json")
    assert proc.returncode == 2
    error = json.loads(proc.stdout)  # nothing else on stdout: one object
    assert error["exit_code"] == 2 and error["kind"] == "config" and "no mlship.yaml" in error["message"]
    assert "no mlship.yaml" in proc.stderr  # the human message still goes to stderr


def _cases(tmp: Path) -> dict[str, list[str]]:
    """A cheap failing call of every command (a directory or file that is not there)."""
    missing = str(tmp / "missing")
    return {
        "init": ["init", str(tmp / "new"), "--from", str(tmp / "missing.ipynb"), "--no-input"],
        "plan": ["plan", str(tmp / "missing.ipynb")],
        "verify": ["verify", missing],
        "train": ["train", missing],
        "predict": ["predict", missing, "--input", str(tmp / "in.csv"), "--output", str(tmp / "out.csv")],
        "lock": ["lock", missing],
        "check": ["check", missing],
        "test": ["test", missing],
        "serve": ["serve", missing],  # no --json option: the usage error is JSON too
        "build": ["build", missing],
        "deploy": ["deploy", "staging", missing],
        "promote": ["promote", "staging", "production", missing],
        "rollback": ["rollback", "staging", missing],
        "status": ["status", "--dir", missing],
        "history": ["history", "staging", "--dir", missing],
        "monitor": ["monitor", missing],
        "replay": ["replay", str(tmp / "missing.jsonl"), "--model", missing],
        "config": ["config", missing],
    }


def test_the_json_error_cases_cover_every_command(tmp_path):
    from mlship.cli import app

    assert set(_cases(tmp_path)) == {c.name for c in app.registered_commands}


@pytest.mark.parametrize("command", sorted(_cases(Path("/x"))))
def test_every_command_fails_with_one_json_error_object(command, tmp_path, monkeypatch, capsys):
    from mlship.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main([*_cases(tmp_path)[command], "--json"])
    out = capsys.readouterr().out
    error = json.loads(out)
    assert set(error) == {"error", "message", "hint", "exit_code", "kind"}, error
    assert error["exit_code"] == exited.value.code and exited.value.code in (1, 2, 3, 4)
    assert error["message"] and error["kind"] in {"usage", "config", "input", "unreachable"}


def test_debug_after_the_subcommand_and_from_the_environment(tmp_path):
    after = run_mlship("config", str(tmp_path), "--debug")
    assert after.returncode == 2 and "Traceback" in after.stderr and "no mlship.yaml" in after.stderr
    env = run_mlship("config", str(tmp_path), env={**os.environ, "MLSHIP_DEBUG": "1"})
    assert env.returncode == 2 and "Traceback" in env.stderr
    off = run_mlship("config", str(tmp_path), env={**os.environ, "MLSHIP_DEBUG": "0"})
    assert off.returncode == 2 and "Traceback" not in off.stderr


def test_every_exit_code_is_in_the_enum_and_the_readme_table():
    from mlship.errors import ExitCode

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    rows = {int(line.split("|")[1]) for line in lines}
    assert {70, 130} <= {int(c) for c in ExitCode}
    assert rows == {int(c) for c in ExitCode}


def test_config_json_is_the_resolved_config(trained_template_project):
    proc = run_mlship("config", str(trained_template_project), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["name"] == "demand"
    # Defaults are filled in: the serving port was never written in the file.
    assert data["serving"]["port"] == 8080
    assert data["environments"]["staging"]["target"] == "swarm"


def test_user_text_is_printed_literally(example_project, tmp_path):
    # rich would turn ":x:" into an emoji and "[red]" into a style; paths must print as they are.
    out = tmp_path / "scored :x: [red]v2.csv"
    proc = run_mlship(
        "predict", str(example_project), "-i", "data/train.csv", "-o", str(out), cwd=example_project
    )
    assert proc.returncode == 0, proc.stderr
    assert "scored :x: [red]v2.csv" in proc.stderr
