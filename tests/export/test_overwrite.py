"""`nftgan export` never writes its model (or its card) over the checkpoint it reads."""

import shutil

from nftgan.export import cli


def test_export_never_writes_over_its_checkpoint(tiny_runs, tmp_path, capsys):
    ckpt = tmp_path / "model.pt"
    shutil.copy(tiny_runs["pix2pix"] / "checkpoints" / "latest.pt", ckpt)  # a copy: the cache stays intact
    before = ckpt.read_bytes()
    for args in (["-o", str(ckpt)], ["-o", str(tmp_path / "m.onnx"), "--card", str(ckpt)]):
        assert cli.main(["export", str(ckpt), *args]) == 1
        err = capsys.readouterr().err
        assert "never writes a result over its source" in err and "Traceback" not in err, err
    assert ckpt.read_bytes() == before and not (tmp_path / "m.onnx").exists()
