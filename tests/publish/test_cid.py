"""The UnixFS / CID / CAR encoder against CIDs made by real IPFS implementations (vectors.json)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from nftgan.core.publish import car
from nftgan.core.publish.cid import CID, RAW, CIDError
from nftgan.core.publish.cli import cid_main
from nftgan.core.publish.unixfs import CHUNK_SIZE, FileImporter, cid_of_file, import_bytes

from tools.make_vectors import vector_data

HERE = Path(__file__).parent
VECTORS = json.loads((HERE / "vectors.json").read_text())


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=lambda v: f"{v['size']}B")
def test_cids_match_kubo(vec):
    data = vector_data(vec["size"])
    assert str(import_bytes(data, keep_blocks=False).root) == vec["v1"]
    assert str(import_bytes(data, v0=True, keep_blocks=False).root) == vec["v0"]


def test_streaming_matches_whole_and_odd_feeds():
    data = vector_data(5_000_000)
    want = VECTORS["vectors"][4]["v1"]
    assert str(cid_of_file(io.BytesIO(data))) == want
    imp = FileImporter()
    for i in range(0, len(data), 100_003):  # feeds that never line up with chunk boundaries
        imp.update(data[i : i + 100_003])
    assert str(imp.finish().root) == want


def test_cid_text_round_trip_and_errors():
    for vec in VECTORS["vectors"][:4]:
        for text in (vec["v0"], vec["v1"]):
            assert str(CID.parse(text)) == text
            assert CID.from_bytes(CID.parse(text).to_bytes())[0] == CID.parse(text)
    assert CID.parse("ipfs://" + VECTORS["vectors"][1]["v1"]) == CID.parse(VECTORS["vectors"][1]["v1"])
    for bad in ("", "hello", "Qm" + "1" * 44, "bafkreiXX", VECTORS["vectors"][1]["v1"][:-3]):
        with pytest.raises(CIDError):
            CID.parse(bad)


def test_reads_a_car_written_by_aleph_cid_and_writes_the_same_header():
    fix = VECTORS["car_fixture"]
    blob = (HERE / "aleph_folder.car").read_bytes()
    roots, blocks = car.read_car(blob)
    blocks = dict(blocks)
    assert [str(r) for r in roots] == [fix["root"]]
    file_cid = CID.parse(fix["file_cid"])
    assert blocks[file_cid] == vector_data(fix["file_size"])
    assert import_bytes(vector_data(fix["file_size"])).root == file_cid
    head = car.header(roots[0])
    assert blob.startswith(head)  # our DAG-CBOR header is byte-identical to the real one


def test_car_round_trip_and_split():
    data = vector_data(CHUNK_SIZE * 5 + 17)
    dag = import_bytes(data)
    whole = car.dag_car(dag)
    roots, blocks = car.read_car(whole)
    blocks = list(blocks)
    assert roots == [dag.root] and blocks[0][0] == dag.root  # root first, like `ipfs dag export`
    assert b"".join(b for c, b in blocks if c.codec == RAW) == data
    parts = car.split_dag(dag, 600_000)
    assert len(parts) == 3 and all(len(p) <= 600_000 for p in parts)
    seen = {}
    for part in parts:
        proots, pblocks = car.read_car(part)
        assert proots == [dag.root]
        seen.update(pblocks)
    assert seen == dag.blocks
    with pytest.raises(ValueError, match="does not fit"):
        car.split_dag(dag, 1000)


def test_car_reader_rejects_corruption():
    dag = import_bytes(vector_data(1000))
    blob = bytearray(car.dag_car(dag))
    blob[-1] ^= 1
    with pytest.raises(car.CARError, match="does not match"):
        list(car.read_car(bytes(blob))[1])
    with pytest.raises(car.CARError):
        car.read_car(b"\x05abc")
    with pytest.raises(car.CARError, match="truncated"):
        list(car.read_car(car.dag_car(dag)[:-10])[1])


def test_nftgan_cid_command(tmp_path, capsys):
    vec = VECTORS["vectors"][3]
    path = tmp_path / "f.bin"
    path.write_bytes(vector_data(vec["size"]))
    assert cid_main([str(path)]) == 0
    assert capsys.readouterr().out.strip() == vec["v1"]
    assert cid_main([str(path), "--v0"]) == 0
    assert capsys.readouterr().out.strip() == vec["v0"]
    assert cid_main([str(tmp_path / "missing.png")]) == 1
    assert "missing.png" in capsys.readouterr().err
