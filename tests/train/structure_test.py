"""The training package stays readable: no function in ``siamjax/train/`` is longer than
80 lines (the loop's phases, logging and checkpointing live in their own functions)."""

import ast
import glob
import os

from tests.conftest import REPO_ROOT

MAX_LINES = 80


def test_no_function_in_the_train_package_exceeds_80_lines():
    long = []
    for path in sorted(glob.glob(os.path.join(REPO_ROOT, "siamjax", "train", "*.py"))):
        with open(path, encoding="utf-8") as stream:
            tree = ast.parse(stream.read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    long.append(f"{os.path.basename(path)}:{node.lineno} {node.name} ({length})")
    assert long == [], long
