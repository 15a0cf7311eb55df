"""The shipped GPU compatibility table and the variant parser."""

from __future__ import annotations

import pytest

from mlship.deps.gpu import cuda_major_of, driver_at_least, load_table, mixed_cuda_majors, parse_variant


@pytest.fixture(scope="module")
def table():
    return load_table()


def test_table_is_versioned_and_sourced(table):
    assert table.version
    urls = [s["url"] for s in table.sources]
    assert any("nvidia.com" in u for u in urls)
    assert any("pytorch.org" in u for u in urls)
    assert any("tensorflow.org" in u for u in urls)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("torch==2.5.1+cu124", ("torch", "2.5.1", "cu124")),
        ("torch==2.5.1", ("torch", "2.5.1", "default")),
        ("torch==2.9.0+cu130", ("torch", "2.9.0", "cu130")),
        ("torch==2.4.0+cpu", ("torch", "2.4.0", "cpu")),
        ("tensorflow-cpu==2.18.0", ("tensorflow", "2.18.0", "cpu")),
        ("tensorflow==2.18.0", ("tensorflow", "2.18.0", "default")),
        ("jax[cuda12]==0.4.30", ("jax", "0.4.30", "cuda12")),
        ("jaxlib==0.4.20+cuda12.cudnn89", ("jax", "0.4.20", "cuda12")),
        ("2.5.1+cpu", ("", "2.5.1", "cpu")),
        ("numpy==2.0.0", ("", "2.0.0", "default")),
    ],
)
def test_parse_variant(text, expected):
    assert parse_variant(text) == expected


def test_torch_variants_and_default_cuda(table):
    assert table.variants("torch", "2.4.1") == ["cpu", "cu118", "cu121", "cu124"]
    assert table.variants("torch", "2.5.1") == ["cpu", "cu118", "cu121", "cu124"]
    assert "cu130" in table.variants("torch", "2.9.0")
    assert table.default_cuda("torch", "2.5.1") == "12.4"
    assert table.default_cuda("torch", "2.8.0") == "12.8"
    assert table.variants("torch", "9.9.0") == []
    assert not table.knows("torch", "9.9.0")
    assert table.default_cuda("jax", "0.4.30") is None
    assert table.cuda_of("torch", "2.9.0", "cu130") == "13.0"
    assert table.cuda_of("torch", "2.9.0", "cpu") is None
    assert table.cuda_of("jax", "0.8.0", "cuda13") == "13"


def test_min_driver_and_driver_ok(table):
    assert table.min_driver("12.6") == "560.28.03"
    assert table.min_driver("13.0") == "580.65.06"
    assert table.min_driver("12.6", minor_compat=True) == "525.60.13"
    assert not table.driver_ok("13.0", "535")
    assert table.driver_ok("12.4", "535.104.05")  # minor version compatibility
    assert not table.driver_ok("12.4", "535.104.05", minor_compat=False)
    assert table.driver_ok("12.4", "550.54.14", minor_compat=False)
    assert not table.driver_ok("12.1", "520.61.05")
    with pytest.raises(KeyError):
        table.min_driver("10.0")


def test_driver_precision():
    assert driver_at_least("535", "535.54.03")
    assert not driver_at_least("535.43", "535.54.03")
    assert driver_at_least("580.65.06", "580.65.06")
    with pytest.raises(ValueError):
        driver_at_least("r535", "535")


def test_mixed_cuda_majors():
    assert cuda_major_of("nvidia-cublas-cu12", "12.4.5.8") == "12"
    assert cuda_major_of("nvidia-cublas", "13.0.0.19") == "13"
    assert cuda_major_of("cupy-cuda12x", "13.3.0") == "12"
    assert cuda_major_of("jax-cuda13-plugin", "0.8.0") == "13"
    assert cuda_major_of("nvidia-cudnn-cu12", "9.1.0.70") == "12"
    assert cuda_major_of("numpy", "2.0.0") is None
    mixed = mixed_cuda_majors([("nvidia-cublas-cu12", "12.4.5.8"), ("nvidia-cuda-runtime", "13.0.96")])
    assert set(mixed) == {"12", "13"}
    clean = mixed_cuda_majors(
        [("torch", "2.5.1+cu124"), ("nvidia-cublas-cu12", "12.4.5.8"), ("numpy", "2.1")]
    )
    assert set(clean) == {"12"}
