"""GPU or CPU image selection over the compatibility table: variants, CUDA, driver floors, errors."""

from __future__ import annotations

import pytest

from mlship.deps.gpu import load_table
from mlship.errors import ConfigError, UsageError
from mlship.image.dockerfile import choose_base
from mlship.image.gpu import plan_gpu, want_gpu
from mlship.image.requirements import parse_lock

TABLE = load_table()


def plan(text: str, **kwargs):  # type: ignore[no-untyped-def]
    return plan_gpu(parse_lock(text).requirements, table=TABLE, **kwargs)


def lines(p) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.line() for r in p.requirements]


@pytest.mark.parametrize(
    ("project", "env", "flag", "expected"),
    [
        (False, None, None, False),
        ("optional", None, None, False),
        ("required", None, None, True),
        ("optional", True, None, True),
        ("required", False, None, False),
        ("required", True, False, False),
        (False, False, True, True),
    ],
)
def test_precedence_flag_then_environment_then_project(project, env, flag, expected) -> None:  # type: ignore[no-untyped-def]
    assert want_gpu(project, env, flag)[0] is expected


@pytest.mark.parametrize("version", ["2.1.2", "2.5.1", "2.7.0", "2.9.0"])
def test_cpu_image_gets_the_cpu_torch_wheel_and_no_cuda_libraries(version: str) -> None:
    p = plan(f"torch=={version}\nnvidia-cublas-cu12==12.4.5.8\ntriton==3.1.0\nnumpy==2.1.0\n")
    assert not p.gpu and p.variant == "cpu"
    assert lines(p) == [f"torch=={version}+cpu", "numpy==2.1.0"]
    assert p.pip_args == ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    assert sorted(p.dropped) == ["nvidia-cublas-cu12==12.4.5.8", "triton==3.1.0"]
    assert p.env == {} and p.min_driver is None


@pytest.mark.parametrize(
    ("version", "cuda", "floor"),
    [("2.1.2", "12.1", "525.60.13"), ("2.5.1", "12.4", "525.60.13"), ("2.8.0", "12.8", "525.60.13")],
)
def test_gpu_image_keeps_pypi_torch_and_its_bundled_cuda(version: str, cuda: str, floor: str) -> None:
    p = plan(f"torch=={version}\nnvidia-cublas-cu12==12.4.5.8\n", project_gpu="required")
    assert p.gpu and p.variant == "default" and p.cuda == cuda
    assert p.cuda_source == "wheels" and p.min_driver == floor
    assert lines(p) == [f"torch=={version}", "nvidia-cublas-cu12==12.4.5.8"]
    assert p.env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert p.env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert p.env["NVIDIA_REQUIRE_CUDA"] == "cuda>=12.0"


def test_old_driver_moves_torch_to_the_newest_build_it_can_run() -> None:
    p = plan("torch==2.5.1\nnvidia-cublas-cu12==12.4.5.8\n", project_gpu="required", driver="470.82.01")
    assert p.variant == "cu118" and p.cuda == "11.8" and p.min_driver == "450.80.02"
    assert lines(p) == ["torch==2.5.1+cu118"]  # the CUDA 12 library pin no longer applies
    assert p.pip_args == ["--extra-index-url", "https://download.pytorch.org/whl/cu118"]


def test_driver_meeting_the_floor_keeps_the_default_build() -> None:
    p = plan("torch==2.7.0", project_gpu="required", driver="535")
    assert p.variant == "default" and p.cuda == "12.6"


def test_driver_below_every_build_is_an_error_with_the_floors() -> None:
    with pytest.raises(UsageError) as err:
        plan("torch==2.7.0", project_gpu="required", driver="418.67")
    assert "418.67" in err.value.message and "cu118 >= 450.80.02" in (err.value.hint or "")


def test_explicit_cuda_variant_is_kept_for_gpu_and_replaced_for_cpu() -> None:
    gpu = plan("torch==2.5.1+cu121 --hash=sha256:aa", flag=True)
    assert (
        gpu.variant == "cu121"
        and gpu.cuda == "12.1"
        and lines(gpu) == ["torch==2.5.1+cu121 --hash=sha256:aa"]
    )
    cpu = plan("torch==2.5.1+cu121 --hash=sha256:aa", flag=False)
    # The hash belonged to the CUDA build: it cannot vouch for the CPU wheel.
    assert lines(cpu) == ["torch==2.5.1+cpu"] and cpu.requirements[0].hashes == ()


def test_gpu_required_with_a_cpu_only_pin_is_an_error_with_a_hint() -> None:
    with pytest.raises(UsageError) as err:
        plan("torch==2.5.1+cpu", project_gpu="required")
    assert "CPU-only" in err.value.message and "--no-gpu" in (err.value.hint or "")
    with pytest.raises(UsageError):
        plan("tensorflow-cpu==2.16.1", flag=True)


def test_gpu_without_any_framework_is_an_error() -> None:
    with pytest.raises(UsageError) as err:
        plan("scikit-learn==1.5.0", project_gpu="required")
    assert "no GPU framework" in err.value.message


def test_unknown_torch_release_cannot_be_called_compatible() -> None:
    with pytest.raises(UsageError) as err:
        plan("torch==1.13.1", project_gpu="required")
    assert "not in the compatibility table" in err.value.message
    assert plan("torch==1.13.1").notes[-1].startswith("torch 1.13.1 is not in the compatibility table")


def test_tensorflow_cpu_and_gpu() -> None:
    cpu = plan("tensorflow==2.16.1")
    assert lines(cpu) == ["tensorflow-cpu==2.16.1"]
    gpu = plan("tensorflow==2.16.1", flag=True)
    assert (
        lines(gpu) == ["tensorflow[and-cuda]==2.16.1"] and gpu.cuda == "12.3" and gpu.cuda_source == "wheels"
    )


def test_old_tensorflow_needs_system_cuda_and_a_cuda_base_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLSHIP_BASE_IMAGE", raising=False)
    p = plan("tensorflow==2.13.1", flag=True)
    assert p.cuda == "11.8" and p.cuda_source == "system" and p.min_driver == "520.61.05"
    base = choose_base(python="3.10", plan=p, flag=None, config_base=None)
    assert base.image == "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04" and base.system_cuda
    with pytest.raises(ConfigError):
        choose_base(python="3.11", plan=p, flag=None, config_base=None)


def test_jax_cpu_drops_plugins_and_gpu_picks_a_plugin_the_driver_runs() -> None:
    cpu = plan("jax[cuda12]==0.4.30\njax-cuda12-plugin==0.4.30\njaxlib==0.4.30\n")
    assert lines(cpu) == ["jax==0.4.30", "jaxlib==0.4.30"]
    gpu = plan("jax==0.7.0\njaxlib==0.7.0\n", flag=True, driver="550.54")
    assert gpu.variant == "cuda12" and lines(gpu)[0] == "jax[cuda12]==0.7.0"
    newest = plan("jax==0.7.0\njaxlib==0.7.0\n", flag=True, driver="580.65.06")
    assert newest.variant == "cuda13" and newest.min_driver == "580.65.06"


def test_cpu_image_with_no_framework_is_untouched() -> None:
    p = plan("pandas==2.2.0\nscikit-learn==1.5.0\n")
    assert not p.gpu and lines(p) == ["pandas==2.2.0", "scikit-learn==1.5.0"] and p.pip_args == []


def test_base_image_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    p = plan("pandas==2.2.0")
    monkeypatch.delenv("MLSHIP_BASE_IMAGE", raising=False)
    assert choose_base(python="3.12", plan=p, flag=None, config_base=None).image == "python:3.12-slim"
    monkeypatch.setenv("MLSHIP_BASE_IMAGE", "mlship-base:bookworm")
    chosen = choose_base(python="3.11", plan=p, flag=None, config_base=None)
    assert (chosen.image, chosen.source, chosen.glibc) == ("mlship-base:bookworm", "MLSHIP_BASE_IMAGE", 36)
    assert choose_base(python="3.11", plan=p, flag=None, config_base="x/y:1").source == "image.base"
    assert choose_base(python="3.11", plan=p, flag="z:1", config_base="x/y:1").image == "z:1"


CU130 = """torch==2.11.0+cu130
cuda-toolkit==13.0.2
nvidia-cublas==13.0.0.19
nvidia-cuda-runtime==13.0.96
nvidia-cufft==12.0.0.61
nvidia-cusolver==12.0.4.66
nvidia-cusparse==12.6.3.3
nvidia-cudnn-cu13==9.13.0.50
nvidia-nccl-cu12==2.23.4
"""


def test_cu130_gpu_image_keeps_the_toolkits_self_numbered_12x_libraries() -> None:
    p = plan(CU130, flag=True)
    assert p.cuda == "13.0" and p.min_driver == "580.65.06"
    kept = lines(p)
    for lib in ("nvidia-cufft==12.0.0.61", "nvidia-cusolver==12.0.4.66", "nvidia-cusparse==12.6.3.3"):
        assert lib in kept
    assert p.dropped == ["nvidia-nccl-cu12==2.23.4"]  # a CUDA 12 library in a CUDA 13 image
    cpu = plan(CU130)
    assert lines(cpu) == ["torch==2.11.0+cpu"]


def test_torch_newer_than_the_table_takes_the_locked_toolkits_cuda() -> None:
    p = plan(
        "torch==2.99.0\ncuda-toolkit==13.2.2\nnvidia-cuda-runtime==13.2.51\n", flag=True, driver="580.65.06"
    )
    assert p.cuda == "13.2" and p.min_driver == "580.65.06"


def test_torchvision_and_torchaudio_move_with_torch() -> None:
    text = "torch==2.5.1\ntorchvision==0.20.1\ntorchaudio==2.5.1\nnvidia-cublas-cu12==12.4.5.8\n"
    old_driver = plan(text, project_gpu="required", driver="470.82.01")
    assert lines(old_driver) == ["torch==2.5.1+cu118", "torchvision==0.20.1+cu118", "torchaudio==2.5.1+cu118"]
    cpu = plan(text)
    assert lines(cpu) == ["torch==2.5.1+cpu", "torchvision==0.20.1+cpu", "torchaudio==2.5.1+cpu"]
    assert lines(plan(text, project_gpu="required")) == text.split()  # default build: untouched


def test_gpu_image_of_cuda_wheels_without_a_framework_takes_their_cuda() -> None:
    p = plan("nvidia-cuda-runtime-cu12==12.4.127\nnumpy==2.1.0\n", project_gpu="required")
    assert (p.gpu, p.cuda, p.cuda_source, p.min_driver) == (True, "12.4", "wheels", "525.60.13")
    assert lines(p) == ["nvidia-cuda-runtime-cu12==12.4.127", "numpy==2.1.0"]
    assert p.env["NVIDIA_REQUIRE_CUDA"] == "cuda>=12.0"
    with pytest.raises(UsageError) as err:
        plan("nvidia-cuda-runtime-cu12==12.4.127\n", flag=True, driver="470.82.01")
    assert "470.82.01" in err.value.message and "525.60.13" in (err.value.hint or "")
    with pytest.raises(UsageError) as mixed:
        plan("nvidia-cuda-runtime-cu12==12.4.127\nnvidia-cuda-runtime==13.0.96\n", flag=True)
    assert "CUDA 12 and CUDA 13" in mixed.value.message


JAX_CUDA13_LOCK = (
    "jax==0.7.2\njaxlib==0.7.2\njax-cuda13-plugin==0.7.2\njax-cuda13-pjrt==0.7.2\n"
    "nvidia-cuda-runtime==13.0.96\n"
)


def test_jax_keeps_the_locked_plugins_cuda_when_the_driver_runs_it() -> None:
    unknown = plan(JAX_CUDA13_LOCK, flag=True)
    assert unknown.variant == "cuda13" and unknown.cuda == "13"
    assert "jax-cuda13-plugin==0.7.2" in lines(unknown) and unknown.dropped == []
    fits = plan(JAX_CUDA13_LOCK, flag=True, driver="580.65.06")
    assert fits.variant == "cuda13" and "jax-cuda13-pjrt==0.7.2" in lines(fits)


def test_jax_plugins_switch_together_when_the_driver_is_too_old_for_the_locked_cuda() -> None:
    old = plan(JAX_CUDA13_LOCK, flag=True, driver="550.54.15")
    assert old.variant == "cuda12" and old.cuda == "12"
    assert lines(old)[0] == "jax[cuda12]==0.7.2"
    assert not [line for line in lines(old) if "cuda13" in line]
    assert "jax-cuda13-plugin==0.7.2" in old.dropped and "jax-cuda13-pjrt==0.7.2" in old.dropped
