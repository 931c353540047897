"""Defaults shared by ``configs/*.py``: pysot's global defaults (docs/parity.md §0, §4, §8.4).

Config files start from ``base_config()`` and set the fields of their model visibly.
"""

from __future__ import annotations

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    """pysot's global default config, as a ConfigDict (model fields left to the caller)."""
    config = ml_collections.ConfigDict()
    config.name = "siamrpn"
    config.seed = 123456

    config.model = ml_collections.ConfigDict()
    # Anchors per location: len(anchor.ratios) * len(anchor.scales); the RPN head takes it
    # from here (docs/parity.md §4).
    config.model.anchor_num = 5
    # Modules imported before the model is built, e.g. one registering a correlation.
    config.model.imports = ()
    config.model.backbone = ml_collections.ConfigDict({"name": "resnet50"})
    config.model.neck = ml_collections.ConfigDict({"name": "none"})
    config.model.rpn = ml_collections.ConfigDict({"name": "multi_rpn"})

    config.anchor = ml_collections.ConfigDict()
    config.anchor.stride = 8
    config.anchor.ratios = (0.33, 0.5, 1.0, 2.0, 3.0)
    config.anchor.scales = (8.0,)

    config.track = ml_collections.ConfigDict()
    config.track.type = "siamrpn"
    config.track.penalty_k = 0.04
    config.track.window_influence = 0.44
    config.track.lr = 0.4
    config.track.exemplar_size = 127
    config.track.instance_size = 255
    config.track.base_size = 8
    config.track.context_amount = 0.5
    config.track.lost_instance_size = 831
    config.track.confidence_low = 0.85
    config.track.confidence_high = 0.998

    # How the network is computed on the backend at hand; 'auto' = siamjax/backend.py's
    # table (XLA:CPU-tuned choices on CPU, plain XLA on GPU / TPU). Values never change,
    # except through matmul_precision below.
    config.backend = ml_collections.ConfigDict(
        {
            "conv": "auto",  # 'xla' | 'matmul'
            "depthwise_conv": "auto",  # 'grouped' | 'shifted_products'
            "correlation": "auto",  # 'grouped' | 'taps' (for the 'depthwise' correlation)
            # float32 matmul / conv precision: 'default' | 'high' | 'highest' (auto:
            # 'highest' on GPU / TPU, parity with pysot; 'default' trades it for speed)
            "matmul_precision": "auto",
            "frozen_backbone": "auto",  # 'batched' | 'by_sample'
            "tracker_batch": "auto",  # 'vectorized' | 'map'
            "seed_ensemble": "auto",  # 'vectorized' | 'unrolled' (a seed ensemble's train step)
            "remat": "auto",  # 'none' | 'blocks' | 'blocks_keep_convs'
            "ynn_fusions": "auto",  # 'on' | 'off' (XLA:CPU only)
            "init_scheduler": "auto",  # 'default' | 'memory_optimized' (XLA:CPU only)
            "trim_host_memory": "auto",  # 'on' | 'off' (glibc malloc_trim after compiles)
            # ONNX Runtime tracker: 'input' | 'constants' (a search session per template)
            "onnx_template": "auto",
        }
    )
    return config


def r50_l234_model(config, neck_channels=(256, 256, 256), weighted=True) -> None:
    """Sets pysot's ``siamrpn_r50_l234_dwxcorr`` model fields on ``config``."""
    config.model.backbone = ml_collections.ConfigDict(
        {"name": "resnet50", "used_layers": (2, 3, 4)}
    )
    config.model.neck = ml_collections.ConfigDict(
        {"name": "adjust_all", "out_channels": tuple(neck_channels), "center_size": 7}
    )
    config.model.rpn = ml_collections.ConfigDict(
        {
            "name": "multi_rpn",
            "in_channels": tuple(neck_channels),
            "weighted": weighted,
            "correlation": "depthwise",
        }
    )


def alex_model(config, legacy=True) -> None:
    """Sets pysot's ``siamrpn_alex_dwxcorr`` model fields (no neck, one DepthwiseRPN)."""
    config.model.backbone = ml_collections.ConfigDict(
        {"name": "alexnetlegacy" if legacy else "alexnet", "width_mult": 1.0}
    )
    config.model.neck = ml_collections.ConfigDict({"name": "none"})
    config.model.rpn = ml_collections.ConfigDict(
        {
            "name": "depthwise_rpn",
            "out_channels": 256,
            "correlation": "depthwise",
        }
    )


def mobilev2_model(config) -> None:
    """Sets pysot's ``siamrpn_mobilev2_l234_dwxcorr`` model fields (width 1.4, layers 3/5/7)."""
    config.model.backbone = ml_collections.ConfigDict(
        {"name": "mobilenetv2", "width_mult": 1.4, "used_layers": (3, 5, 7)}
    )
    config.model.neck = ml_collections.ConfigDict(
        {"name": "adjust_all", "out_channels": (256, 256, 256), "center_size": 7}
    )
    config.model.rpn = ml_collections.ConfigDict(
        {
            "name": "multi_rpn",
            "in_channels": (256, 256, 256),
            "weighted": False,
            "correlation": "depthwise",
        }
    )


def input_config(datasets) -> ml_collections.ConfigDict:
    """``config.input``: pysot's training-data settings (docs/parity.md §6.2, §6.4).

    ``datasets``: sequence of dicts with ``name``, ``path`` (a prepared folder),
    ``frame_range`` and ``num_use`` (-1 = every video once per pick list).
    """
    config = ml_collections.ConfigDict()
    config.datasets = [ml_collections.ConfigDict(dict(entry)) for entry in datasets]
    config.videos_per_epoch = 600000
    config.neg = 0.2
    config.gray = 0.0
    config.exemplar_size = 127
    config.search_size = 255
    config.template = ml_collections.ConfigDict(
        {"shift": 4.0, "scale": 0.05, "blur": 0.0, "flip": 0.0, "color": 1.0}
    )
    config.search = ml_collections.ConfigDict(
        {"shift": 64.0, "scale": 0.18, "blur": 0.2, "flip": 0.0, "color": 1.0}
    )
    # Truncated / unreadable shards: error (False) or skip with a counted warning (True).
    config.skip_corrupt = False
    # Seed of the pair stream (sampling and augmentation); None: config.seed. Experiments
    # fix it so that runs of different seeds train on the same pairs.
    config.seed = ml_collections.FieldReference(None, field_type=int)
    # 'workers': OpenCV in worker processes (siamjax/data/workers.py, fastest on CPU
    # hosts); 'tf': the tf.data graph (siamjax/data/pipeline.py, no extra processes).
    config.loader = "workers"
    # worker processes; 0 = one per usable core (this process's share when several
    # training processes share the host unbound, e.g. one per GPU), at most 16
    config.workers = 0
    config.prefetch_batches = 3  # batches built ahead (shared-memory slots)
    # reader threads per worker process; 0 = 1 for local shards, enough for 256 samples in
    # flight per host for shards behind a URL (a bucket's latency overlapped)
    config.read_threads = 0
    # Shards behind a URL are also copied to local disk while training reads them, and
    # read from there once copied (siamjax/data/staging.py): 'auto' = under the system's
    # temporary folder, '' = never, else a local folder.
    config.stage_dir = "auto"
    return config


def pysot_training_datasets(root: str = "data") -> list[dict]:
    """pysot's four training sets (docs/parity.md §6.2) as ``siamjax prep`` writes them
    under ``root``."""
    return [
        {"name": "vid", "path": f"{root}/vid", "frame_range": 100, "num_use": 100000},
        {"name": "ytbb", "path": f"{root}/ytbb", "frame_range": 3, "num_use": -1},
        {"name": "coco", "path": f"{root}/coco", "frame_range": 1, "num_use": -1},
        {"name": "det", "path": f"{root}/det", "frame_range": 1, "num_use": -1},
    ]


def train_config(gpus: int, per_gpu_batch: int) -> ml_collections.ConfigDict:
    """``config.train``: pysot's optimisation recipe (docs/parity.md §5, §7) for
    ``gpus`` × ``per_gpu_batch``.

    The global batch is ``gpus · per_gpu_batch`` and BatchNorm / loss groups have
    ``per_gpu_batch`` samples, so the recipe is the same on any number of devices.
    """
    config = ml_collections.ConfigDict()
    config.batch_size = gpus * per_gpu_batch  # global, all processes together
    config.bn_group_size = per_gpu_batch  # pysot's per-GPU batch: BN statistics and loss means
    config.schedule = ml_collections.ConfigDict(
        {
            "epochs": 20,
            "warmup_epochs": 5,
            "warmup_start_lr": 0.001,
            "warmup_end_lr": 0.005,
            "base_lr": 0.005,
            "end_lr": 0.0005,
            "per_step": False,  # pysot: constant within an epoch
            # Rates are the table's times this; pysot's TRAIN.BASE_LR / TRAIN.LR start_lr.
            "lr_multiplier": 1.0,
        }
    )
    config.momentum = 0.9
    config.weight_decay = 1e-4
    config.grad_clip = 10.0
    config.backbone = ml_collections.ConfigDict(
        {
            "train_epoch": 10,
            "layers_lr": 0.1,
            "train_layers": ("layer2", "layer3", "layer4"),
            "reset_momentum": True,  # pysot rebuilds its optimiser at train_epoch
        }
    )
    # Converted ImageNet backbone (``siamjax convert --imagenet``); '' = random init.
    config.init_checkpoint = ""
    config.targets = ml_collections.ConfigDict(
        {"thr_high": 0.6, "thr_low": 0.3, "pos_num": 16, "total_num": 64, "neg_num": 16}
    )
    config.cls_weight = 1.0
    config.loc_weight = 1.2
    # pysot counts a label set of exactly one anchor as empty; True only for bit-parity runs.
    config.single_anchor_is_empty = False
    config.max_loss = 1e4  # a larger (or non-finite) loss skips the update
    config.compute_dtype = "float32"  # or "bfloat16": params and optimiser stay float32
    config.log_every = 20
    config.checkpoint_every = 500
    config.keep_checkpoints = 3
    config.tensorboard = True
    # 'FIRST,LAST': a jax.profiler trace of those steps in WORKDIR/profile ('' = none).
    config.profile_steps = ""
    # Persistent XLA compilation cache: 'auto' = WORKDIR/compilation_cache for a local
    # workdir, '' = off, else a directory (siamjax/train/runtime_tools.py).
    config.compilation_cache = "auto"
    return config


def experiment_settings(
    variants, baseline: str, seeds, synthetic_videos: int, overrides=None, **extra
) -> ml_collections.ConfigDict:
    """``config.experiment`` of a ``siamjax experiment`` config: the variants (and their
    ``overrides``, if any) compared against ``baseline`` over ``seeds``; ``extra`` adds
    analysis settings (e.g. ``centre_bias``)."""
    settings = {
        "variants": tuple(variants),
        "baseline": baseline,
        "seeds": tuple(seeds),
        # Train a variant's seeds together as one step (siamjax/train/loop.py, seeds=).
        "ensemble": True,
        # Modules or .py files to import first (they register more variants).
        "imports": (),
        "data": {
            # Empty: synthetic sequences generated under the workdir; else a prepared
            # (TFRecord) train split and held-out sequences in siamjax's custom layout.
            "prepared": "",
            "held_out": "",
            "synthetic_videos": synthetic_videos,
            # Seed of the synthetic data and of the pair stream every run shares.
            "seed": 0,
        },
        # Devices each training run uses: 0 = all of this process's.
        "devices": 0,
        "eval_batch": 4,  # held-out sequences tracked in lockstep
        "max_eval_videos": 0,  # 0: all
        "bootstrap_samples": 10000,
        "confidence": 0.95,
        "timing_calls": 20,  # search calls timed per variant
        "wait_minutes": 600.0,  # how long process 0 waits for other processes' runs
    }
    if overrides is not None:
        settings["overrides"] = dict(overrides)
    return ml_collections.ConfigDict({**settings, **extra})
