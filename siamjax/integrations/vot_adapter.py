"""vot-toolkit integration (the Python "trax" protocol).

Register in the workspace's ``trackers.ini``::

    [siamjax]
    label = siamjax
    protocol = traxpython
    command = from siamjax.integrations.vot_adapter import run; run("CONFIG.py", "CKPT_DIR")
    paths = /path/to/siamjax
    env_PATH = /path/to/venv/bin:$PATH

The toolkit supplies the ``vot`` module (``VOT(region_format)``, ``region()``, ``frame()``,
``report(region, confidence)``). Rectangles go to the tracker as they are; polygons are
reduced to pysot's area-preserving axis-aligned box.
"""

from __future__ import annotations

import cv2
import numpy as np

from siamjax.eval.boxes import init_box
from siamjax.integrations import load_tracker


def _selection_to_box(selection) -> np.ndarray:
    if hasattr(selection, "points"):  # vot.Polygon
        return init_box([c for point in selection.points for c in (point.x, point.y)])
    return np.array([selection.x, selection.y, selection.width, selection.height], np.float64)


def _read(image_path) -> np.ndarray:
    path = image_path[0] if isinstance(image_path, (list, tuple)) else image_path
    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        raise FileNotFoundError(f"{path}: cannot read image")
    return frame


def run_session(vot_module, tracker) -> int:
    """Runs one toolkit session with ``tracker``; returns the number of frames tracked."""
    handle = vot_module.VOT("rectangle")
    selection = handle.region()
    first = handle.frame()
    if not first:
        return 0
    tracker.init(_read(first), _selection_to_box(selection))
    count = 0
    while True:
        image_path = handle.frame()
        if not image_path:
            break
        box, score = tracker.track(_read(image_path))
        handle.report(vot_module.Rectangle(*[float(v) for v in box]), float(score))
        count += 1
    return count


def run(config_spec: str, checkpoint_dir: str, overrides=()) -> None:
    """Entry point for ``trackers.ini``: imports the toolkit's ``vot`` module and tracks."""
    import vot  # provided by the vot-toolkit at run time

    run_session(vot, load_tracker(config_spec, checkpoint_dir, overrides))
