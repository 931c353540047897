"""Imports sit at the top of a module, where ``tests/layering_test.py`` and a reader see
them. A function-level import is allowed only where start-up time, an optional
dependency or a process that must stay small needs it, for the reasons listed here."""

import ast
import glob
import os

from tests.conftest import REPO_ROOT

# Folders whose modules import lazily, and why.
LAZY_FOLDERS = {
    "siamjax/cli/": "start-up: `siamjax --help` and argument errors must not wait for JAX / TF",
    "siamjax/pysot_reference/": "runs pysot from an external checkout; torch is imported first",
}
# Packages imported lazily anywhere, and why.
LAZY_PACKAGES = {
    "tensorflow": "optional for inference; seconds of start-up (file systems, tf loader)",
    "tensorflow_datasets": "only for the TFDS metadata of prepared data",
    "onnx": "the [onnx] extra",
    "onnxruntime": "the [onnx] extra",
    "openvino": "the [openvino] extra (the bfloat16 tracker mode)",
    "matplotlib": "only for plots",
    "tensorboardX": "only with train.tensorboard",
    "shapely": "only for the VOT / GOT-10k polygon overlaps",
    "skimage": "only for the synthetic data's real photograph",
    "vot": "the vot-toolkit integration",
    "google_crc32c": "only when records are written or checked",
    "libtpu": "the [tpu] extra (siamjax compile for TPU slices)",
    "jax_plugins": "the [cuda] extra (siamjax compile for GPU nodes)",
}
# Single files with their own reason.
LAZY_FILES = {
    "siamjax/cluster.py": ("jax", "launch helpers read the cluster environment without JAX"),
    "siamjax/data/": ("jax cv2", "loader worker processes import numpy and OpenCV only"),
}


def _function_level_imports(path):
    with open(path, encoding="utf-8") as stream:
        tree = ast.parse(stream.read())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.level == 0:
                    yield inner.lineno, inner.module
                elif isinstance(inner, ast.Import):
                    for alias in inner.names:
                        yield inner.lineno, alias.name


def _allowed(relative: str, module: str) -> bool:
    if relative.startswith(tuple(LAZY_FOLDERS)):
        return True
    package = module.split(".")[0]
    if package in LAZY_PACKAGES:
        return True
    for prefix, (packages, _) in LAZY_FILES.items():
        if relative.startswith(prefix) and package in packages.split():
            return True
    return False


def test_function_level_imports_have_a_listed_reason():
    unexplained = []
    for path in sorted(glob.glob(os.path.join(REPO_ROOT, "siamjax", "**", "*.py"), recursive=True)):
        relative = os.path.relpath(path, REPO_ROOT).replace(os.sep, "/")
        for line, module in _function_level_imports(path):
            if not _allowed(relative, module):
                unexplained.append(f"{relative}:{line} {module}")
    assert unexplained == [], unexplained


def test_the_rule_sees_a_hidden_arrow(tmp_path):
    """A function-level import of a siamjax module outside the CLI is reported."""
    module = tmp_path / "example.py"
    module.write_text("def load():\n    from siamjax.tracking import build_tracker\n")
    found = list(_function_level_imports(str(module)))
    assert found == [(2, "siamjax.tracking")]
    assert not _allowed("siamjax/loading.py", "siamjax.tracking")
    assert _allowed("siamjax/cli/track.py", "siamjax.tracking")
