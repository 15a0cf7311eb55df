import textwrap

import pytest

from mlship.config import parse_config
from mlship.errors import ConfigError, ExitCode
from tests.support import run_mlship

VALID = textwrap.dedent(
    """\
    name: demo
    entrypoints:
      preprocess: demo.preprocess:transform
      train: demo.train:main
      load: demo.predict:load
      predict: demo.predict:predict
    environments:
      staging:
        target: swarm
        replicas: 2
    """
)


def test_valid_config_fills_defaults():
    config = parse_config(VALID)
    assert config.environments["staging"].replicas == 2
    assert config.environments["staging"].strategy == "rolling"
    assert config.gpu is False
    assert config.environment("local").target == "docker"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.exit_code == ExitCode.USAGE
    return info.value


def test_unknown_key_names_path_and_line():
    err = error_of(VALID + "    replicaz: 3\n")
    assert "environments.staging.replicaz is not a known key" in err.message
    assert "mlship.yaml:11" in err.message


def test_wrong_type_names_path_and_line():
    err = error_of(VALID.replace("replicas: 2", "replicas: many"))
    assert "environments.staging.replicas" in err.message
    assert "integer" in err.message
    assert "mlship.yaml:10" in err.message


def test_missing_field_is_named():
    err = error_of(VALID.replace("  train: demo.train:main\n", ""))
    assert "entrypoints.train is required but missing" in err.message
    assert "mlship.yaml:2" in err.message


def test_bad_entrypoint_reference():
    err = error_of(VALID.replace("demo.train:main", "demo.train.main"))
    assert "entrypoints.train" in err.message and "package.module:function" in err.message


def test_broken_yaml_names_the_line():
    err = error_of(VALID.replace("  staging:\n", "  staging:\n   - [unclosed\n"))
    assert "not valid YAML" in err.message
    assert "mlship.yaml:" in err.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "is empty"), ("- a\n- b\n", "must be a mapping"), ("name: x\n", "entrypoints")],
)
def test_other_bad_files(text, expected):
    assert expected in error_of(text).message


def test_several_problems_are_reported_together():
    err = error_of(VALID.replace("name: demo", "name: Demo!").replace("replicas: 2", "replicas: 0"))
    assert "2 problems" in err.message
    assert "name" in err.message and "environments.staging.replicas" in err.message


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        parse_config(VALID).environment("prod")
    assert "unknown environment 'prod'" in info.value.message
    assert "local, staging" in info.value.hint


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t + "bogus: 1\n", "bogus is not a known key (mlship.yaml:"),
        (lambda t: t.replace("gpu: false", "gpu: sometimes"), "gpu"),
        (lambda t: t.replace("environments:", "environments: [\n"), "not valid YAML"),
    ],
)
def test_cli_reports_config_errors_with_exit_2(example_project, edit, expected):
    path = example_project / "mlship.yaml"
    path.write_text(edit(path.read_text()))
    for command in ("config", "train"):
        proc = run_mlship(command, str(example_project))
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr
        assert "Traceback" not in proc.stderr


def test_an_environment_names_its_spark():
    spark = "    spark:\n      master: spark://batch:7077\n      conf:\n        spark.executor.memory: 4g\n"
    config = parse_config(VALID + spark)
    assert config.environments["staging"].spark.master == "spark://batch:7077"
    assert config.environments["staging"].spark.conf == {"spark.executor.memory": "4g"}
    err = error_of(VALID + spark.replace("spark.executor.memory", "executor.memory"))
    assert "environments.staging.spark.conf" in err.message and "start with 'spark.'" in err.message
    assert "mlship.yaml:13" in err.message
    err = error_of(VALID + "    spark:\n      masterr: local\n")
    assert "environments.staging.spark.masterr is not a known key (mlship.yaml:12)" in err.message
