"""The tracker's input contract: square context crops with channel-mean padding.

See docs/parity.md §8.1.

Pixels everywhere in siamjax are BGR (OpenCV's order), 0-255, not normalised. Crops are
made on the host with numpy/OpenCV so that they are byte-identical to pysot's
``get_subwindow``, quirks included:

* the window's left/top edge is ``floor(centre − (side + 1) / 2 + 0.5)``, so its centre
  pixel sits at ``centre − 1`` (rounded), a MATLAB-era convention;
* the padding value is the per-channel mean of the whole frame, truncated to uint8;
* resizing uses OpenCV's INTER_LINEAR on uint8 (fixed point, no antialiasing).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


class FrameError(ValueError):
    """A frame the tracker cannot read (wrong dtype or shape)."""


def as_bgr_frame(frame: np.ndarray) -> np.ndarray:
    """A (H, W, 3) uint8 BGR view or copy of an OpenCV-style uint8 frame.

    (H, W, 3) is taken as BGR as is; (H, W) and (H, W, 1) grayscale are repeated into three
    channels (``cv2.COLOR_GRAY2BGR``); (H, W, 4) is BGRA and loses its alpha. Anything
    else raises ``FrameError`` naming the shape and dtype.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or min(frame.shape[:2], default=0) < 1:
        raise FrameError(
            f"frame must be uint8 (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA; "
            f"got shape {frame.shape} dtype {frame.dtype}"
        )
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(np.ascontiguousarray(frame.reshape(frame.shape[:2])),
                            cv2.COLOR_GRAY2BGR)  # fmt: skip
    if frame.shape[2] == 3:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGRA2BGR)
    raise FrameError(f"frame has {frame.shape[2]} channels; expected 1, 3 or 4")


def channel_average(image_bgr: np.ndarray) -> np.ndarray:
    """(3,) float64 mean of each channel over the whole (H, W, 3) frame."""
    return np.mean(image_bgr, axis=(0, 1))


def context_size(size_wh, context_amount: float) -> float:
    """Side of the square context around a target of ``size_wh`` = (w, h): sqrt(w_z · h_z).

    w_z = w + c·(w + h) and h_z = h + c·(w + h) with c = ``context_amount`` (0.5).
    """
    width, height = float(size_wh[0]), float(size_wh[1])
    context = context_amount * (width + height)
    return math.sqrt((width + context) * (height + context))


def crop_window(centre_xy, original_size: float) -> tuple[int, int, int]:
    """(x_min, y_min, side): the integer frame pixels ``get_subwindow`` crops, pysot's
    rounding of a window of side ``original_size`` (integer-valued) around ``centre_xy``."""
    side = int(original_size)
    if side < 1:
        raise ValueError(f"crop side must be at least 1 pixel, got {original_size!r}")
    half = (original_size + 1) / 2
    return (int(np.floor(centre_xy[0] - half + 0.5)), int(np.floor(centre_xy[1] - half + 0.5)),
            side)  # fmt: skip


def get_subwindow(
    image_bgr: np.ndarray,
    centre_xy,
    model_size: int,
    original_size: float,
    average_bgr: np.ndarray,
) -> np.ndarray:
    """Crops a square of side ``original_size`` around ``centre_xy`` and resizes it.

    Args:
      image_bgr: (H, W, 3) uint8 frame.
      centre_xy: (cx, cy) window centre in frame pixels (float).
      model_size: output side (127 template, 255/287/831 search).
      original_size: window side in frame pixels, an integer-valued number.
      average_bgr: (3,) padding colour (``channel_average`` of the frame); truncated to uint8.

    Returns:
      (model_size, model_size, 3) float32 crop, BGR 0-255.
    """
    x_min, y_min, side = crop_window(centre_xy, original_size)
    height, width = image_bgr.shape[:2]
    x_max, y_max = x_min + side - 1, y_min + side - 1
    if x_min >= 0 and y_min >= 0 and x_max < width and y_max < height:
        patch = image_bgr[y_min : y_max + 1, x_min : x_max + 1]
    else:
        # pysot pastes the frame into a mean-filled canvas and crops that; bordering the
        # overlap with the colour gives the same bytes without the full-frame copy (and
        # OpenCV's border fill is several times faster than numpy's broadcast of a colour).
        colour = np.asarray(average_bgr, np.float64).astype(np.uint8)  # truncated, as pysot
        src_x0, src_y0 = max(x_min, 0), max(y_min, 0)
        src_x1, src_y1 = min(x_max + 1, width), min(y_max + 1, height)
        if src_x0 < src_x1 and src_y0 < src_y1:
            patch = cv2.copyMakeBorder(
                np.ascontiguousarray(image_bgr[src_y0:src_y1, src_x0:src_x1]),
                src_y0 - y_min, y_max + 1 - src_y1, src_x0 - x_min, x_max + 1 - src_x1,
                cv2.BORDER_CONSTANT, value=[int(value) for value in colour],
            )  # fmt: skip
        else:  # the window misses the frame: all colour
            patch = np.empty((side, side, 3), np.uint8)
            patch[...] = colour
    if side != model_size:
        patch = cv2.resize(patch, (model_size, model_size))
    return patch.astype(np.float32)
