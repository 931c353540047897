"""One host's training pairs, loader-neutral: sources + sampler + record reader.

``PairSource.sample(position)`` gives sample ``position`` as 8-bit crops warped with OpenCV
and their photometric numbers (what the ``workers`` loader's processes run;
``siamjax/data/batch_format.py``); ``PairSource.plan(position)`` gives what the tf.data
graph reads and augments (``siamjax/data/pipeline.py``). Both check every record they read
and, with ``input.skip_corrupt``, replace a corrupt sample by the next position's.
"""

from __future__ import annotations

import logging

import numpy as np

from siamjax import fs
from siamjax.data.augment import crop_geometry, warp_crop_opencv
from siamjax.data.batch_format import sample_photometrics
from siamjax.data.sampling import PairSampler
from siamjax.data.sources import DataError, RecordReader, load_sources, record_data

# Consecutive corrupt samples tolerated with ``input.skip_corrupt`` before giving up.
MAX_SUBSTITUTES = 16


class PairSource:
    """Sources + sampler + reader of one host; ``load(position)`` gives a sample's inputs."""

    def __init__(self, input_config, seed, process_index=None, process_count=None,
                 sources=None, stage_dir: str | None = None):  # fmt: skip
        """``stage_dir``: a running ``ShardStager``'s folder: read URL shards from their
        local copies once complete (``siamjax/data/staging.py``)."""
        if process_index is None or process_count is None:
            import jax

            process_index, process_count = jax.process_index(), jax.process_count()
        if sources is None:
            sources = load_sources(input_config, process_index, process_count)
        self.sources = sources
        self.sampler = PairSampler(self.sources, input_config, seed, process_index)
        self.reader = RecordReader(self.sources, stage_dir)
        self.skip_corrupt = bool(input_config.get("skip_corrupt", False))
        self._shard_sizes = {}  # shard path -> bytes (the tf loader's reads)
        self.sizes = {"template": int(input_config.exemplar_size),
                      "search": int(input_config.search_size)}  # fmt: skip

    def _substituted(self, build, position: int):
        """``(build(p), skipped messages)`` for the first sample from ``position`` on
        whose records are sound. Without ``input.skip_corrupt`` a bad record raises its
        ``DataError``; with it, the sample is replaced by the next position's (so the
        stream stays deterministic) and each skip is reported."""
        skipped = []
        for attempt in range(MAX_SUBSTITUTES + 1):
            try:
                return build(int(position) + attempt), skipped
            except DataError as error:
                if not self.skip_corrupt:
                    raise
                skipped.append(f"sample {int(position) + attempt} skipped: {error}")
        raise DataError(
            f"sample {position} and the {MAX_SUBSTITUTES} after it read corrupt records; "
            f"last: {skipped[-1]}"
        )

    def plan(self, position):
        """The tf loader's inputs of sample ``position``, nothing read yet: per role
        (template, search) the record's shard path, byte offset, record length and shard
        size, then the crop's box, warp grids xs / ys, colour offset, blur size and weight
        and flip; then gray and negative (``siamjax/data/pipeline.py`` reads the records
        with tf.data)."""
        spec = self.sampler.spec(int(position))
        outputs = []
        for role in ("template", "search"):
            crop = spec[role]
            source_id, shard_id, offset, length = crop["ref"]
            shard = self.reader.path(source_id, shard_id)  # its local copy once staged
            geometry = crop_geometry(crop, crop["box"], self.sizes[role])
            outputs += [
                np.bytes_(shard.encode()),
                np.int64(offset),
                np.int64(length),
                np.int64(self._shard_size(shard)),
                geometry["box"],
                geometry["xs"],
                geometry["ys"],
                np.asarray(crop["colour_offset_bgr"], np.float32),
                np.int32(crop["blur_size"]),
                np.float32(crop["blur_weight"]),
                np.bool_(crop["flip"]),
            ]
        return (*outputs, np.bool_(spec["gray"]), np.bool_(spec["negative"]))

    def _shard_size(self, shard: str) -> int:
        sizes = self._shard_sizes
        if shard not in sizes:
            # Opened once, so an unreadable shard is named as the Python reader names it
            # (tf.data's own error would not say which file).
            try:
                with fs.open_file(shard, "rb"):
                    sizes[shard] = fs.size(shard)
            except OSError as error:
                raise DataError(f"{shard}: cannot read ({error.strerror or error})") from None
        return sizes[shard]

    def check_record(self, record, shard, offset, length) -> np.bool_:
        """Whether ``record`` (framing, data and checksum as read from ``shard`` at byte
        ``offset``) is sound. A bad one raises its ``DataError``, or with
        ``input.skip_corrupt`` is reported and gives False (the tf loader then takes the
        next position's sample, as ``sample`` does)."""
        shard = shard.decode() if isinstance(shard, bytes) else str(shard)
        try:
            record_data(bytes(record), shard, offset, length)
        except DataError as error:
            if not self.skip_corrupt:
                raise
            logging.warning("sample skipped: %s", error)
            return np.bool_(False)
        return np.bool_(True)

    def decode(self, ref, jpeg: bytes | None = None) -> np.ndarray:
        """The (511, 511, 3) uint8 BGR crop of record ``ref`` = (source, shard, offset,
        length), from its ``jpeg`` bytes when they were read already."""
        import cv2

        if jpeg is None:
            jpeg = self.reader.image_bytes(*ref)
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None or image.ndim != 3 or image.shape[0] != image.shape[1]:
            source_id, shard_id, offset, _ = ref
            shard = self.sources[source_id].shards[shard_id]
            found = "no image" if image is None else f"shape {image.shape}"
            raise DataError(f"{shard}: record at byte {offset}: JPEG gives {found}")
        return image

    def fetch(self, position) -> tuple:
        """``(spec, [template JPEG, search JPEG])`` of sample ``position``: its draws and
        its records' bytes, the part of a sample that waits on storage. Raises
        ``DataError`` for a bad record."""
        spec = self.sampler.spec(int(position))
        return spec, self.reader.images([spec[role]["ref"] for role in ("template", "search")])

    def sample(self, position, fetched: tuple | None = None) -> dict:
        """Sample ``position`` in the batch format (``siamjax/data/batch_format.py``):
        template (127, 127, 3) and search (255, 255, 3) uint8 BGR crops warped with OpenCV,
        each with its colour offset and blur, search_box (4,) float32 x1, y1, x2, y2 in
        search-crop pixels, negative bool; ``skipped``: messages of corrupt samples it
        replaced (see ``_substituted``). ``fetched``: ``fetch(position)``'s result when a
        reader thread fetched it already."""

        def build(at):
            return self._sample(at, fetched if at == int(position) else None)

        sample, skipped = self._substituted(build, position)
        sample["skipped"] = skipped
        return sample

    def _sample(self, position, fetched=None) -> dict:
        spec, jpegs = fetched if fetched is not None else self.fetch(position)
        sample = {"negative": np.bool_(spec["negative"])}
        for role, jpeg in zip(("template", "search"), jpegs, strict=True):
            crop = spec[role]
            size = self.sizes[role]
            geometry = crop_geometry(crop, crop["box"], size)
            sample[role] = warp_crop_opencv(
                self.decode(crop["ref"], jpeg),
                geometry["crop_box"],
                size,
                bool(crop["flip"]),
                bool(spec["gray"]),
            )
            sample.update(sample_photometrics(role, crop))
            if role == "search":
                sample["search_box"] = geometry["box"]
        return sample
