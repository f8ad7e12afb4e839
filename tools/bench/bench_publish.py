"""Publish throughput: CID computation, CAR writing/reading, and an upload to the 127.0.0.1 test server,
each in MB/s on the same data, next to plain sha2-256 (hashlib) as the ceiling every CID needs."""

from __future__ import annotations

import io
import random
import time

from nftgan.core.publish import car
from nftgan.core.publish.backends import Item, Settings, make_backend
from nftgan.core.publish.http import RetryPolicy
from nftgan.core.publish.unixfs import cid_of_file, import_bytes

from tests.publish.ipfs_server import FakeIpfsServer
from tools.make_vectors import vector_data

SIZE = 50 * 1024 * 1024  # the ~50 MB vector (two tree levels)
UPLOAD = 20 * 1024 * 1024


def _best(fn, repeat=3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    import hashlib

    data = vector_data(SIZE)
    dag = import_bytes(data)
    blob = car.dag_car(dag)
    rows = [
        ("sha2-256 of the bytes (hashlib, ceiling)", SIZE, _best(lambda: hashlib.sha256(data).digest())),
        ("CIDv1 raw leaves, streamed (nftgan cid)", SIZE, _best(lambda: cid_of_file(io.BytesIO(data)))),
        ("CIDv0 dag-pb leaves, streamed (--v0)", SIZE, _best(lambda: cid_of_file(io.BytesIO(data), v0=True))),
        ("DAG with blocks + CARv1 bytes", SIZE, _best(lambda: car.dag_car(import_bytes(data)))),
        ("CAR split into 10 MB parts", SIZE, _best(lambda: car.split_dag(dag, 10_000_000))),
        ("CAR read + verify every block", SIZE, _best(lambda: list(car.read_car(blob)[1]))),
    ]
    token = "bench-token"
    body = data[:UPLOAD]
    item = Item("bench.bin", "application/octet-stream", body, import_bytes(body))
    with FakeIpfsServer(tokens={token}) as srv:
        for kind in ("nftstorage", "kubo"):
            backend = make_backend(
                Settings(kind, endpoint=srv.url, token=token if kind != "kubo" else ""),
                retry=RetryPolicy(attempts=1, rng=random.Random(0)),
            )
            backend.http.throttle = None  # measure the transfer, not the service's request quota
            rows.append(
                (
                    f"upload to 127.0.0.1 test server ({kind}; server hashes too)",
                    UPLOAD,
                    _best(lambda b=backend: b.store(item), repeat=2),
                )
            )
    ceiling = rows[0][1] / rows[0][2]
    print(f"{'operation':58} {'MB':>6} {'seconds':>8} {'MB/s':>8} {'vs sha256':>9}")
    for name, size, secs in rows:
        rate = size / secs
        print(f"{name:58} {size / 1e6:6.1f} {secs:8.3f} {rate / 1e6:8.1f} {rate / ceiling:9.2f}")


if __name__ == "__main__":
    main()
