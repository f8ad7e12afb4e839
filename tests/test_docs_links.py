"""Every relative link and #anchor in the repository's Markdown pages resolves (tools/check_links.py)."""

from tools import check_links


def test_every_link_and_anchor_in_the_docs_resolves():
    pages = check_links.tracked_pages()
    assert any(p.name == "README.md" for p in pages)
    problems = [p for page in pages for p in check_links.broken_links(page)]
    assert problems == []


def test_a_missing_file_or_heading_is_reported(tmp_path):
    (tmp_path / "other.md").write_text(
        "# Other page\n\n## Training times (2 cores)\n\n## Notes\n\n## Notes\n"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n\n"
        "[ok](other.md#training-times-2-cores) [ok](other.md#notes-1) [ok](#top) [web](https://x.invalid/)\n"
        "[gone](missing.md) [bad](other.md#training-time) ![img](nope.png) [self](#nowhere)\n"
        "```sh\n[in code](not-checked.md)\n```\n`[inline](not-checked.md)`\n"
    )
    problems = check_links.broken_links(page)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "missing.md (no such file)",
        f"other.md#training-time (no heading #training-time in {tmp_path / 'other.md'})",
        "nope.png (no such file)",
        "#nowhere (no heading #nowhere in " + str(page) + ")",
    ]


def test_heading_ids_follow_github():
    assert check_links.slug("Pipeline / bare: where the pipeline's own work goes (session 4)") == (
        "pipeline--bare-where-the-pipelines-own-work-goes-session-4"
    )
    assert check_links.slug("The `nftgan` command") == "the-nftgan-command"
    assert check_links.slug("[Linked](x.md) heading") == "linked-heading"


def test_versions_the_docs_quote_are_the_build_files():
    """README and docs/install.md quote the Blender, onnxruntime, torch and bpy versions the build uses."""
    import re
    import tomllib

    root = check_links.ROOT
    readme = (root / "README.md").read_text(encoding="utf-8")
    install = (root / "docs" / "install.md").read_text(encoding="utf-8")
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    manifest = tomllib.loads((root / "blender_manifest.toml").read_text(encoding="utf-8"))
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    oldest = manifest["blender_version_min"]
    assert f"({oldest} or later)" in readme and f'blender_version_min = "{oldest}"' in install
    bundled = {re.match(r"\./wheels/onnxruntime-([^-]+)-", w)[1] for w in manifest["wheels"]}
    assert bundled == set(re.findall(r"\| \*\*([\d.]+)\*\* \|", install))
    dev = next(d for d in project["dependencies"] if d.startswith("onnxruntime=="))
    assert f"uses onnxruntime {dev.split('==')[1]} " in install
    torch = re.search(r"^TORCH_SPEC \?= torch==(\S+)", makefile, re.M)[1]
    assert f"torch {torch} (CPU build" in readme
    for var in ("BPY_311", "BPY_313"):
        bpy = re.search(rf"^{var} := (\S+)", makefile, re.M)[1]
        assert f"`.venv-bpy-{bpy}`" in readme and f"| {bpy} |" in install


def _doc_commands():
    """Every `nftgan ...` command line in the fenced code blocks and inline code of the tracked pages."""
    import re

    for page in check_links.tracked_pages():
        text, fence, block = page.read_text(encoding="utf-8"), False, []
        for line in text.splitlines():
            if check_links._FENCE.match(line):
                fence = not fence
                continue
            block += [line] if fence else re.findall(r"`([^`]*\bnftgan [a-z][^`]*)`", line)
        joined = "\n".join(block).replace("\\\n", " ")
        for cmd in re.findall(r"(?:^|\s)nftgan ([a-z][^#\n]*)", joined, re.M):
            yield page.name, cmd.split()


def test_the_flags_the_docs_show_exist(capsys):
    """Each --flag a page shows after `nftgan COMMAND` (or `nftgan train KIND`) is in that command's --help."""
    import re

    import pytest
    from nftgan.export import cli

    helps, missing = {}, []
    for page, words in _doc_commands():
        if words[0] not in cli.COMMANDS:
            continue
        kind = len(words) > 1 and words[1][:1].isalpha() and words[1].islower()  # not KIND, METRIC
        key = words[:2] if words[0] in ("train", "eval") and kind else words[:1]
        if key == ["train"]:
            key = ["train", "pix2pix"]  # `nftgan train --resume/--config`: the options every kind shares
        if tuple(key) not in helps:
            with pytest.raises(SystemExit):
                cli.main([*key, "--help"])
            out = capsys.readouterr()
            assert "usage:" in out.out, (page, key, out.err)
            helps[tuple(key)] = out.out
        for flag in (w.split("=")[0] for w in words if re.match(r"--?[a-zA-Z]", w)):
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[tuple(key)]):
                missing.append(f"{page}: nftgan {' '.join(key)} {flag}")
    assert len(helps) >= 8 and missing == []
