"""Ahead-of-time compilation for accelerators this machine does not have.

``siamjax compile --config CONFIG --target v5e-8`` compiles the exact programs ``siamjax
train`` and the tracker would run on a TPU slice or an NVIDIA node, on any machine (the
compiler runs here; no device is needed), and sizes them: memory per chip, the compiler's
FLOP and byte counts, the collectives, and a roofline bound on each program's time.

    targets.py    target names (``v5e-8``, ``v5p-128``, ``h100x8x2``) -> devices to compile for
    chips.py      the chips' published figures (peaks, memory, bandwidths), with sources
    gpu_specs/    the device description XLA's GPU compiler takes, one text per GPU kind
    hlo.py        what the compiled HLO says: collectives, cuDNN / cuBLAS FLOPs, transfers
    roofline.py   the bound: compute, memory and interconnect terms
    programs.py   the programs: every training phase, the tracker's template and search
    report.py     compile them all and report (JSON; its keys: docs/accelerators.md)
    summary.py    the report as text
"""
