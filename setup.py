"""siamjax: SiamRPN++ (pysot-exact) in JAX/Flax."""

from setuptools import find_packages, setup

setup(
    name="siamjax",
    version="0.1.0",
    description="SiamRPN++ visual object tracking in JAX/Flax, parity-tested against pysot",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["siamjax", "siamjax.*", "data_prep", "data_prep.*"]),
    # The GPU device descriptions `siamjax compile` gives XLA's GPU compiler.
    package_data={"siamjax.aot": ["gpu_specs/*.txtpb"]},
    install_requires=[
        "jax>=0.10",
        "flax>=0.12",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12",
        "ml-collections>=1.0",
        "numpy>=1.26",
        "opencv-python-headless>=4.8",
        "tensorflow-cpu>=2.20; sys_platform == 'linux'",
        "tensorflow-datasets>=4.9.9",
        "tqdm>=4.66",
        # TFRecord checksums of every record read in training.
        "google-crc32c>=1.5",
        "matplotlib>=3.8",
        "scikit-image>=0.22",
        # TensorBoard scalars from training, written without TensorFlow; and the viewer.
        "tensorboardX>=2.6",
        "tensorboard>=2.20",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "ruff>=0.6",
            "got10k>=0.1.3",
            "onnx>=1.17",
            "onnxruntime>=1.20",
            "openvino>=2025.0",
        ],
        # `siamjax score --protocol got10k` on VOT: the got10k toolkit's polygon IoU.
        "toolkits": ["shapely>=2.0"],
        # ONNX export (`siamjax export --format onnx`) and the onnxruntime tracker backend.
        "onnx": ["onnx>=1.17", "onnxruntime>=1.20"],
        # The bfloat16 tracker mode (`siamjax track --precision bfloat16`) on AMX /
        # AVX512-BF16 CPUs: OpenVINO runs the ONNX export.
        "openvino": ["onnx>=1.17", "openvino>=2025.0"],
        # Accelerators, following JAX's own extras (its installation guide): NVIDIA GPUs
        # with CUDA 13 (or 12) from pip wheels, Cloud TPU VMs with libtpu.
        "cuda": ["jax[cuda13]>=0.10"],
        "cuda12": ["jax[cuda12]>=0.10"],
        "tpu": ["jax[tpu]>=0.10"],
        # `siamjax compile` for both kinds of target on any machine (the tests use it).
        "aot": ["jax[tpu]>=0.10", "jax[cuda13]>=0.10"],
    },
    entry_points={"console_scripts": ["siamjax=siamjax.cli:main"]},
)
