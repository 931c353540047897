"""Image files at any path ``fs`` reads or writes: local paths and URLs (``gs://``).

Local paths go straight to OpenCV (``cv2.imread`` / ``cv2.imwrite``); a URL's bytes go
through ``fs`` and OpenCV's codecs (``cv2.imdecode`` is ``imread``'s decoder and
``cv2.imencode``'s defaults are ``imwrite``'s: the same pixels and the same bytes).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from siamjax import fs


def read_image(path: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """The image at ``path`` as ``cv2.imread(path, flags)`` returns it (BGR for colour);
    None for a missing or undecodable file, as ``imread``."""
    if not fs.is_url(path):
        return cv2.imread(path, flags)
    try:
        data = fs.read_bytes(path)  # one request, no stat first: this is the per-frame path
    except FileNotFoundError:
        return None
    if not data:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)


def write_image(path: str, image: np.ndarray) -> None:
    """Writes ``image`` (BGR) in the format ``path``'s extension names, as ``cv2.imwrite``;
    a file that exists is complete (``fs.write_bytes``)."""
    extension = os.path.splitext(path)[1]
    ok, encoded = cv2.imencode(extension, image)
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode a {extension} image")
    fs.write_bytes(path, encoded.tobytes())
