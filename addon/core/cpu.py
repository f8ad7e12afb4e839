"""What this CPU computes fast, for choosing a model's precision, and how NFTGan's own processes have the C
library's malloc keep freed memory (no bpy; numpy and the OS only).

onnxruntime's int8 convolutions pay where the CPU has int8 dot-product instructions: x86 VNNI
(AVX512-VNNI, AVX-VNNI) or AMX. Elsewhere (AVX2 without VNNI, other architectures) the int8 kernels
are about as fast as fp32 or slower and the fp32 model is the better choice.

Detection asks numpy, which reads CPUID itself on every OS (Windows, macOS, Linux), and on Linux also
the kernel's CPU flags (which name AVX-VNNI and AMX, which older numpy does not). Anything unexpected
answers False: fp32 is always a safe choice.
"""

from __future__ import annotations

import functools
import logging
import platform

log = logging.getLogger(__name__)

LINUX_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
NUMPY_FEATURES = ("AVX512VNNI", "AVX512_CLX", "AVX512_ICL", "AVX512_SPR", "AVXVNNI")


def _numpy_features() -> set[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features  # numpy 2
    except ImportError:
        from numpy.core._multiarray_umath import __cpu_features__ as features  # numpy 1
    return {name for name, present in features.items() if present}


def _linux_flags(path: str = "/proc/cpuinfo") -> set[str]:
    with open(path, encoding="ascii", errors="replace") as fh:
        for line in fh:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


@functools.cache
def int8_pays() -> bool:
    """True when this CPU has int8 dot-product instructions (VNNI or AMX): int8 models run faster there."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False
    try:
        if _numpy_features() & set(NUMPY_FEATURES):
            return True
        if platform.system() == "Linux":
            return bool(_linux_flags() & set(LINUX_FLAGS))
    except Exception as exc:  # noqa: BLE001 - detection must never break inference: fp32 it is
        log.info("NFTGan: CPU features unknown (%s); using fp32 models", exc)
    return False


def describe() -> str:
    """One line for the user: what the automatic precision choice is on this machine, and why."""
    if int8_pays():
        return "int8 (this CPU has VNNI/AMX int8 instructions)"
    return "fp32 (no VNNI/AMX int8 instructions found on this CPU)"


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory this process frees (no trimming below 1 GB free, blocks up to its
    32 MB maximum from the heap rather than mmap, the heap grown 256 MB at a time), so torch's tensors reuse
    pages instead of faulting fresh ones in: a pix2pix step made up to 47k page faults (fp32) and ran 2-4 %
    faster without them, `nftgan eval`'s Inception passes 15-20 % (docs/benchmarks.md, "Training step"). The
    cost: the process's memory stays near its peak instead of falling back between steps. For NFTGan's own
    processes (`nftgan train`, `nftgan eval`, the benches), never Blender's. True when set; False, doing
    nothing, where the C library is not glibc (macOS, Windows, musl)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim, m_top_pad, m_mmap = -1, -2, -3  # mallopt's parameters (glibc's malloc.h)
    return bool(mallopt(m_trim, 1 << 30) and mallopt(m_top_pad, 1 << 28) and mallopt(m_mmap, 1 << 25))
