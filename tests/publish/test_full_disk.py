"""A full disk, for real: the ledger, its staging folder or the Offline folder on a tiny tmpfs
(tests/limited_fs.py). A clear message, no traceback, nothing half-written or half-recorded."""

from __future__ import annotations

import json

from tests.limited_fs import run_on_small_fs

from .conftest import png_bytes

REPORT = """
import json, os, sys
from nftgan.core.publish.cli import publish_main
from nftgan.core.publish.ledger import Ledger
status = publish_main(sys.argv[1:])
ledger = Ledger(LEDGER)
print(json.dumps({
    "status": status,
    "rows": [(r.state, r.error) for r in ledger.rows()],
    "staged": sorted(os.listdir(ledger.staging)) if os.path.isdir(ledger.staging) else [],
    "out": sorted(os.listdir(OUT)) if os.path.isdir(OUT) else [],
}))
"""


def test_full_disk_while_staging_records_nothing(tmp_path):
    # the ledger and its staging folder on the full disk; the Offline folder elsewhere
    report, err = _run(tmp_path, 'os.path.join(FS, "ledger.sqlite")', repr(str(tmp_path / "out")))
    assert report["status"] == 1 and report["rows"] == [] and report["staged"] == [] and report["out"] == []
    assert "the disk is full" in err and "nothing was sent or recorded" in err


def test_full_disk_in_the_offline_folder_fails_the_row_and_leaves_no_part_files(tmp_path):
    report, err = _run(tmp_path, repr(str(tmp_path / "ledger.sqlite")), 'os.path.join(FS, "out")')
    assert report["status"] == 1 and "the disk is full" in err
    ((state, error),) = report["rows"]
    assert state == "failed" and "the disk is full" in error
    assert not any(name.endswith(".tmp") for name in report["out"]), report["out"]


def _run(tmp_path, ledger_expr: str, out_expr: str):
    """Publish a 200 kB image to Offline; the paths are Python expressions evaluated in the child (FS: the
    small disk). Returns what the child found afterwards, and its stderr."""
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(256, 3))
    script = (
        "import os, sys\n"
        f"LEDGER = {ledger_expr}\nOUT = {out_expr}\n"
        "sys.argv[1:] = [sys.argv[1], '--ledger', LEDGER, '--endpoint', OUT]\n" + REPORT
    )
    result = run_on_small_fs(script, art, size="96k")
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stderr
