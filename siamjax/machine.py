"""One line describing this machine's CPU, for measured results."""

from __future__ import annotations

import os
import platform


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The instruction-set flags of /proc/cpuinfo's first ``flags`` line (``cpuinfo``: that
    file's text, read when None); empty where there is none (not Linux, or not x86)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as stream:
                cpuinfo = stream.read()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def describe() -> str:
    """'2 cores (Intel(R) Xeon(R) Processor, AVX-512)': usable cores, the CPU model from
    /proc/cpuinfo where there is one, and whether it has AVX-512 (XLA:CPU and oneDNN
    speeds differ much between AVX2 and AVX-512 machines)."""
    model, vector = platform.processor() or platform.machine(), None
    try:
        with open("/proc/cpuinfo") as stream:
            lines = stream.read().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    flags = next((line for line in lines if line.startswith("flags")), None)
    if names:
        model = names[0]
    if flags is not None:
        vector = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else None
    details = model if vector is None else f"{model}, {vector}"
    return f"{usable_cores()} cores ({details})"
