import json
import subprocess
import sys

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


def test_json_errors_keep_stdout_clean(tmp_path):
    proc = run_mlship("config", str(tmp_path), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""


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
