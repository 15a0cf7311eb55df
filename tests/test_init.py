import json
import re
import subprocess
import sys
import zipfile

import pandas as pd

from mlship import DISTRIBUTION
from tests.support import REPO, run_mlship

EXPECTED_FILES = {
    "mlship.yaml",
    "requirements.txt",
    ".gitignore",
    ".dockerignore",
    ".github/workflows/mlship.yml",
    ".gitlab-ci.yml",
    "data/train.csv",
    "src/demand/preprocess.py",
    "src/demand/train.py",
    "src/demand/predict.py",
    "tests/test_model.py",
}


def test_init_writes_a_complete_project(tmp_path):
    proc = run_mlship("init", str(tmp_path / "demand"), "--no-input", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["name"] == "demand"
    assert set(result["written"]) >= EXPECTED_FILES
    assert result["kept"] == []
    assert (tmp_path / "demand" / "mlship.yaml").read_text().startswith("# mlship.yaml")
    # Nothing of the rendering is left beside the project.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demand"]


def test_every_install_line_installs_this_project(tmp_path):
    """`mlship` on the package index is another project: README, CI and pyproject name this one."""
    proc = run_mlship("init", str(tmp_path / "demand"), "--no-input")
    assert proc.returncode == 0, proc.stderr
    assert f'\nname = "{DISTRIBUTION}"\n' in (REPO / "pyproject.toml").read_text()
    texts = {
        name: (tmp_path / "demand" / name).read_text()
        for name in ("README.md", ".github/workflows/mlship.yml", ".gitlab-ci.yml")
    }
    texts["README.md (repo)"] = (REPO / "README.md").read_text()
    for name, text in texts.items():
        installs = [line for line in re.findall(r"pip install [^\n]*", text) if "mlship" in line]
        assert installs, name
        assert all(f'"{DISTRIBUTION}[serve]"' in line for line in installs), (name, installs)
    assert f"pypi.org/project/{DISTRIBUTION}/" in texts["README.md"]


def test_name_option_sets_the_package(tmp_path):
    proc = run_mlship("init", str(tmp_path / "x"), "--no-input", "--name", "Churn Model")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x" / "src" / "churn_model" / "predict.py").is_file()
    assert "name: churn-model" in (tmp_path / "x" / "mlship.yaml").read_text()


def test_non_empty_directory_is_refused(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    proc = run_mlship("init", str(target), "--no-input")
    assert proc.returncode == 2
    assert "is not empty" in proc.stderr and "--force" in proc.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_force_adds_files_and_keeps_every_user_file(tmp_path):
    target = tmp_path / "busy"
    (target / "data").mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    (target / "requirements.txt").write_text("my-own-pin==1.0\n")
    (target / "data" / "train.csv").write_text("a,b\n1,2\n")
    proc = run_mlship("init", str(target), "--no-input", "--force", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["kept"]) == {"requirements.txt", "data/train.csv"}
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "requirements.txt").read_text() == "my-own-pin==1.0\n"
    assert (target / "data" / "train.csv").read_text() == "a,b\n1,2\n"
    assert (target / "mlship.yaml").is_file()


def test_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    proc = run_mlship("init", str(target), "--no-input")
    assert proc.returncode == 2 and "not a directory" in proc.stderr


def test_organisation_template(tmp_path):
    template = tmp_path / "org-template"
    (template / "{{cookiecutter.project_name}}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps({"project_name": "x", "team": "pricing"}))
    (template / "{{cookiecutter.project_name}}" / "OWNERS").write_text("{{ cookiecutter.team }}\n")
    proc = run_mlship("init", str(tmp_path / "svc"), "--template", str(template), "--no-input")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "svc" / "OWNERS").read_text() == "pricing\n"


def test_missing_template_is_an_input_error(tmp_path):
    proc = run_mlship("init", str(tmp_path / "p"), "--template", str(tmp_path / "nope"), "--no-input")
    assert proc.returncode == 2
    assert "template" in proc.stderr
    assert not (tmp_path / "p").exists()


def test_broken_template_leaves_nothing_behind(tmp_path):
    template = tmp_path / "broken"
    (template / "{{cookiecutter.project_name}}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps({"project_name": "x"}))
    (template / "{{cookiecutter.project_name}}" / "a.txt").write_text("{{ cookiecutter.undefined.x }}")
    proc = run_mlship("init", str(tmp_path / "p"), "--template", str(template), "--no-input")
    assert proc.returncode == 2, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]


def test_generated_project_trains_predicts_and_its_tests_pass(example_project):
    project = example_project
    out = project / "out.csv"
    proc = run_mlship(
        "predict", str(project), "--input", "data/train.csv", "--output", "out.csv", cwd=project
    )
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_csv(out)
    assert len(scored) == 400 and (scored["prediction"] >= 0).all()
    # A good model: it tracks the recorded demand closely.
    assert (scored["prediction"] - scored["demand"]).abs().mean() < 15
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "passed" in tests.stdout


def test_wheel_ships_the_templates(tmp_path):
    """`pip install .` must carry templates/: build the wheel and run init from it alone."""
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(wheel_dir.glob("mlship_cli-*.whl"))  # `mlship` on PyPI is an unrelated project
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlship/templates/project/cookiecutter.json" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert f"Name: {DISTRIBUTION}\n" in zipfile.ZipFile(wheel).read(metadata).decode()
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = "import mlship, sys; from mlship.cli import main; print(mlship.__file__, file=sys.stderr); main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "init", str(tmp_path / "p"), "--no-input"],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert str(site) in proc.stderr  # ran from the wheel, not the checkout
    assert (tmp_path / "p" / "mlship.yaml").is_file()
