"""Synthetic tracking scenes: a textured object moving over a textured background.

The object is a patch of a real photograph shipped with scikit-image, or a procedural
texture, inside a rectangular or elliptical mask; it moves smoothly over a slowly panning
background with gradual scale and aspect change, distractor objects drawn from the same
textures, an occluding bar that crosses the target, and motion blur when it moves fast.
Ground truth is the object's box (x, y, w, h), clipped to the frame. In memory only:
``prep/synthetic.py`` writes scenes as a dataset, ``eval/precision_budget.py`` tracks them.
"""

from __future__ import annotations

import cv2
import numpy as np

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "colorwheel",
          "retina", "hubble_deep_field", "cat")  # fmt: skip
BACKGROUNDS = ("grass", "gravel", "brick", "hubble_deep_field", "coffee", "moon", "camera")


def load_photo(name: str) -> np.ndarray:
    """One of scikit-image's photographs, (H, W, 3) uint8 BGR."""
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3][..., ::-1]).astype(np.uint8)  # RGB -> BGR


def _procedural(rng, height, width) -> np.ndarray:
    kind = rng.integers(0, 3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    colours = rng.integers(0, 256, (2, 3)).astype(np.float32)
    if kind == 0:  # stripes at a random angle
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 20)
        phase = (np.cos(angle) * xs + np.sin(angle) * ys) / period
        mix = (np.sin(2 * np.pi * phase) > 0).astype(np.float32)
    elif kind == 1:  # checkerboard
        cell = rng.integers(5, 16)
        mix = ((xs // cell + ys // cell) % 2).astype(np.float32)
    else:  # smooth blobs
        noise = rng.random((max(height // 8, 2), max(width // 8, 2))).astype(np.float32)
        mix = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    mix = mix[..., None]
    return (colours[0] * (1 - mix) + colours[1] * mix).clip(0, 255).astype(np.uint8)


def _texture(rng, height, width, photos) -> np.ndarray:
    """A (height, width, 3) texture: a random crop of a photo, or procedural."""
    if rng.random() < 0.6:
        photo = photos[rng.integers(0, len(photos))]
        scale = max(height / photo.shape[0], width / photo.shape[1], rng.uniform(0.3, 1.0))
        resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        top = rng.integers(0, resized.shape[0] - height + 1)
        left = rng.integers(0, resized.shape[1] - width + 1)
        return resized[top : top + height, left : left + width].copy()
    return _procedural(rng, height, width)


# Target speed cap in pixels per frame (320x240 frames, 30-70 px objects): mean motion is
# about 6 % of the object size per frame, faster than most benchmark sequences.
MAX_SPEED = 6.0


class _Mover:
    """Smooth random motion with bounces, plus slow scale / aspect drift."""

    def __init__(self, rng, frame_w, frame_h, base_size, speed):
        self.rng, self.frame_w, self.frame_h = rng, frame_w, frame_h
        self.width, self.height = base_size
        self.x = rng.uniform(0.15, 0.85) * frame_w
        self.y = rng.uniform(0.15, 0.85) * frame_h
        angle = rng.uniform(0, 2 * np.pi)
        self.vx, self.vy = speed * np.cos(angle), speed * np.sin(angle)
        self.log_scale, self.log_aspect = 0.0, 0.0
        self.scale_rate = rng.uniform(-0.012, 0.012)
        self.aspect_rate = rng.uniform(-0.008, 0.008)

    def step(self):
        self.vx += self.rng.normal(0, 0.4)
        self.vy += self.rng.normal(0, 0.4)
        speed = np.hypot(self.vx, self.vy)
        if speed > MAX_SPEED:
            self.vx, self.vy = self.vx * MAX_SPEED / speed, self.vy * MAX_SPEED / speed
        self.x += self.vx
        self.y += self.vy
        if not 0.1 * self.frame_w < self.x < 0.9 * self.frame_w:
            self.vx = -self.vx
        if not 0.1 * self.frame_h < self.y < 0.9 * self.frame_h:
            self.vy = -self.vy
        self.log_scale = float(np.clip(self.log_scale + self.scale_rate, -0.5, 0.5))
        self.log_aspect = float(np.clip(self.log_aspect + self.aspect_rate, -0.3, 0.3))

    def size(self):
        scale = np.exp(self.log_scale)
        return (
            max(8.0, self.width * scale * np.exp(self.log_aspect)),
            max(8.0, self.height * scale * np.exp(-self.log_aspect)),
        )


def _paste(frame, texture, mask, centre_x, centre_y, width, height):
    """Alpha-pastes ``texture`` (masked) resized to (w, h) at the centre; returns the box."""
    w, h = int(round(width)), int(round(height))
    patch = cv2.resize(texture, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    alpha = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    x0, y0 = int(round(centre_x - w / 2)), int(round(centre_y - h / 2))
    fh, fw = frame.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(fw, x0 + w), min(fh, y0 + h)
    if dx1 <= dx0 or dy1 <= dy0:
        return None
    region = frame[dy0:dy1, dx0:dx1]
    a = alpha[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
    p = patch[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
    frame[dy0:dy1, dx0:dx1] = region * (1 - a) + p * a
    return (dx0, dy0, dx1 - dx0, dy1 - dy0)


def _mask(rng, size=64) -> np.ndarray:
    mask = np.ones((size, size), np.float32)
    if rng.random() < 0.5:
        mask[:] = 0
        cv2.ellipse(mask, (size // 2, size // 2), (size // 2 - 1, size // 2 - 1), 0, 0, 360, 1, -1)
    return cv2.GaussianBlur(mask, (3, 3), 0)


def render_sequence(rng, photos, frames=48, frame_size=(240, 320)):
    """Returns (frames (T, H, W, 3) uint8 BGR, boxes (T, 4) x, y, w, h)."""
    height, width = frame_size
    pad = 64
    background = _texture(rng, height + 2 * pad, width + 2 * pad, photos).astype(np.float32)
    background = cv2.GaussianBlur(background, (0, 0), rng.uniform(0.5, 2.0))
    pan = rng.uniform(-1.0, 1.0, 2)
    side = rng.uniform(30, 70)
    aspect = np.exp(rng.uniform(-0.5, 0.5))
    target = _Mover(rng, width, height, (side * aspect, side / aspect), rng.uniform(1.5, 4.5))
    target_texture, target_mask = _texture(rng, 96, 96, photos), _mask(rng)
    distractors = []
    for _ in range(rng.integers(1, 3)):
        size = rng.uniform(25, 70)
        distractors.append(
            (_Mover(rng, width, height, (size, size * rng.uniform(0.6, 1.5)), rng.uniform(1, 5)),
             _texture(rng, 96, 96, photos), _mask(rng))
        )  # fmt: skip
    occluder_colour = rng.integers(0, 256, 3).astype(np.float32)
    occlusion_start = int(rng.integers(frames // 4, frames // 2))
    occluder_width = rng.uniform(8, 18)
    images, boxes = [], []
    for t in range(frames):
        ox = int(np.clip(pad + pan[0] * t, 0, 2 * pad))
        oy = int(np.clip(pad + pan[1] * t, 0, 2 * pad))
        frame = background[oy : oy + height, ox : ox + width].copy()
        for mover, texture, mask in distractors:
            mover.step()
            _paste(frame, texture, mask, mover.x, mover.y, *mover.size())
        target.step()
        box = _paste(frame, target_texture, target_mask, target.x, target.y, *target.size())
        if box is None:  # keep at least a sliver inside the frame
            target.x, target.y = (
                np.clip(target.x, 10, width - 10),
                np.clip(target.y, 10, height - 10),
            )
            box = _paste(frame, target_texture, target_mask, target.x, target.y, *target.size())
        if occlusion_start <= t < occlusion_start + 8:  # a bar sweeping over the target
            bar_x = int(box[0] + (t - occlusion_start) / 8 * box[2])
            frame[:, max(bar_x, 0) : max(bar_x + int(occluder_width), 0)] = occluder_colour
        speed = np.hypot(target.vx, target.vy)
        if speed > 4.5:  # motion blur along the direction of motion
            length = int(speed)
            kernel = np.zeros((length, length), np.float32)
            kernel[length // 2, :] = 1.0 / length
            angle = np.degrees(np.arctan2(target.vy, target.vx))
            rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
            kernel = cv2.warpAffine(kernel, rotation, (length, length))
            kernel /= max(kernel.sum(), 1e-6)
            frame = cv2.filter2D(frame, -1, kernel)
        images.append(np.clip(frame, 0, 255).astype(np.uint8))
        boxes.append(box)
    return np.stack(images), np.asarray(boxes, np.float64)
