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
