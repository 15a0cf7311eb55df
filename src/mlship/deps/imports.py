"""What the project's code imports, and which distribution provides each module.

Module -> distribution comes from the wheels themselves (their file lists, read through the index
seam) and from a maintained map of the names that differ (sklearn, cv2, PIL, yaml, ...). A module no
source can place is reported as such, never guessed into a "clean" answer.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Import name -> distributions that provide it, for the common cases where the names differ.
KNOWN_PROVIDERS: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn",),
    "skimage": ("scikit-image",),
    "cv2": (
        "opencv-python",
        "opencv-python-headless",
        "opencv-contrib-python",
        "opencv-contrib-python-headless",
    ),
    "PIL": ("pillow",),
    "yaml": ("pyyaml",),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "dotenv": ("python-dotenv",),
    "google.protobuf": ("protobuf",),
    "attr": ("attrs",),
    "jwt": ("pyjwt",),
    "Crypto": ("pycryptodome",),
    "serial": ("pyserial",),
    "usb": ("pyusb",),
    "magic": ("python-magic",),
    "docx": ("python-docx",),
    "pptx": ("python-pptx",),
    "fitz": ("pymupdf",),
    "MySQLdb": ("mysqlclient",),
    "psycopg2": ("psycopg2", "psycopg2-binary"),
    "OpenSSL": ("pyopenssl",),
    "mpl_toolkits": ("matplotlib",),
    "pkg_resources": ("setuptools",),
    "sentence_transformers": ("sentence-transformers",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "lightgbm": ("lightgbm",),
    "xgboost": ("xgboost",),
    "catboost": ("catboost",),
    "statsmodels": ("statsmodels",),
    "Levenshtein": ("levenshtein",),
    "zmq": ("pyzmq",),
    "git": ("gitpython",),
    "slugify": ("python-slugify",),
    "multipart": ("python-multipart",),
    "pydantic_settings": ("pydantic-settings",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "faiss": ("faiss-cpu", "faiss-gpu"),
    "umap": ("umap-learn",),
    "hdbscan": ("hdbscan",),
    "Bio": ("biopython",),
    "osgeo": ("gdal",),
    "win32api": ("pywin32",),
}


@dataclass(frozen=True)
class ImportSite:
    module: str  # the full dotted name imported
    path: str  # relative to the project root
    line: int
    optional: bool  # inside `try: ... except ImportError`


_SKIP_DIRS = {".venv", "venv", "__pycache__", "build", ".git", "node_modules", ".tox", "site-packages"}


def local_modules(source_dir: Path, root: Path | None = None) -> set[str]:
    """Top-level names the project itself provides: the packages and modules under `source`, the source
    directory itself (`import src.globals`), and any module or package elsewhere in the project
    (a notebook's `data_helpers.py`): none of them is a distribution to install."""
    names: set[str] = set()
    for base in (source_dir, root):
        if base is None or not base.is_dir():
            continue
        for child in base.iterdir():
            if child.is_dir() and child.name not in _SKIP_DIRS and any(child.glob("*.py")):
                names.add(child.name)
            elif child.suffix == ".py":
                names.add(child.stem)
    if root is not None and root.is_dir():
        for path in root.rglob("*.py"):
            if not any(part in _SKIP_DIRS for part in path.relative_to(root).parts):
                names.add(path.stem)
        if source_dir.is_dir() and source_dir != root:
            names.add(source_dir.name)
    return names


@dataclass
class ImportScan:
    sites: list[ImportSite]
    unparsed: list[str]  # project files that could not be read as Python (relative paths)


def scan_imports(source_dir: Path, root: Path) -> ImportScan:
    """Absolute imports of third-party modules in the project's source (stdlib and own modules left out)."""
    own = local_modules(source_dir, root)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    sites: list[ImportSite] = []
    unparsed: list[str] = []
    for path in sorted(source_dir.rglob("*.py")) if source_dir.is_dir() else []:
        if any(part in _SKIP_DIRS for part in path.parts):
            continue
        rel = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8-sig"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            unparsed.append(rel)  # its imports are unknown: the check says so instead of passing
            continue
        for module, line, optional in _imports_of(tree):
            top = module.split(".")[0]
            if top in stdlib or top in own:
                continue
            sites.append(ImportSite(module, rel, line, optional))
    return ImportScan(sites, unparsed)


def _imports_of(tree: ast.AST) -> Iterable[tuple[str, int, bool]]:
    optional_lines: set[int] = set()
    skip_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            optional_lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt) if hasattr(n, "lineno")}
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            skip_lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt) if hasattr(n, "lineno")}
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip_lines:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, node.lineno in optional_lines
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno, node.lineno in optional_lines


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = []
    if handler.type is None:
        return True
    for node in ast.walk(handler.type):
        if isinstance(node, ast.Name):
            names.append(node.id)
    return bool({"ImportError", "ModuleNotFoundError", "Exception"} & set(names))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def provided_modules(names: Iterable[str]) -> set[str]:
    """Importable names a wheel provides, from its file list.

    `pkg/__init__.py` gives "pkg", `mod.py` gives "mod", `.so` extension modules count too;
    a top-level directory without `__init__.py` (a namespace such as google/) gives "google.sub".
    """
    names = list(names)
    tops: set[str] = set()
    init_dirs = {n.split("/")[0] for n in names if n.count("/") == 1 and n.endswith("/__init__.py")}
    for name in names:
        first = name.split("/")[0]
        if first.endswith((".dist-info", ".data")) or not first:
            continue
        if "/" not in name:
            if name.endswith(".py"):
                tops.add(name[:-3])
            elif name.endswith((".so", ".pyd")):
                tops.add(name.split(".")[0])
        elif first in init_dirs:
            tops.add(first)
        elif name.endswith((".py", ".so", ".pyd")) and first.isidentifier():
            second = name.split("/")[1]
            sub = second[:-3] if second.endswith(".py") else second.split(".")[0]
            tops.add(f"{first}.{sub}" if sub.isidentifier() else first)
    return tops


def module_candidates(module: str) -> list[str]:
    """The module and its parents, longest first: 'google.protobuf.message' -> [.., 'google']."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def suggest_distribution(module: str) -> tuple[str, ...]:
    for candidate in module_candidates(module):
        if candidate in KNOWN_PROVIDERS:
            return KNOWN_PROVIDERS[candidate]
    return (module.split(".")[0].replace("_", "-").lower(),)
