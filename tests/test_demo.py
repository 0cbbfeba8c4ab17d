"""Tests for qupsample.demo and `qupsample demo`: a synthetic corpus resolved end to end."""

from __future__ import annotations

from pathlib import Path

from helpers import REPO, invoke, table_rows

from qupsample.demo import run_demo


def npy_folders(data: Path) -> list[Path]:
    return sorted({path.parent for path in data.rglob("*.npy")})


def corpus_files(folder: Path) -> dict[str, int]:
    """Every file under `folder` (relative path -> size)."""
    return {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_demo_command_writes_corpus_and_prints_a_feasible_table(tmp_path: Path) -> None:
    """`qupsample demo DIR` writes .npy files plus sidecars and prints only feasible leaves."""
    result = invoke("demo", tmp_path, "--root", REPO)
    assert result.code == 0, result.err
    data = tmp_path / "data"
    folders = npy_folders(data)
    npy = sorted(data.rglob("*.npy"))
    tokens = sum(path.stat().st_size for path in npy) // 4
    assert result.err.splitlines()[0] == (
        f"wrote {len(npy)} .npy files ({tokens:,} tokens) in {len(folders)} folders under {data}"
    )
    for folder in folders:
        assert (folder / "_metadata.json").is_file()
        parts = sorted(folder.glob("*.npy"))
        assert len(parts) >= 2
        assert all(part.with_name(part.name + ".json").is_file() for part in parts)
    config = tmp_path / "heavy_code-gradual.yaml"
    assert config.is_file()
    next_line = result.err.splitlines()[-1]
    assert next_line.startswith(f"next: qupsample resolve {config} --training-tokens ")
    # The suggested next step works as printed.
    args = next_line.removeprefix("next: qupsample ").split()
    follow = invoke(*args)
    assert follow.code == 0, follow.err
    rows = table_rows(result.out)
    assert len(rows) >= 10
    assert {leaf.split(":")[0] for leaf in rows} == {"all_dressed", "arxiv", "wikipedia"}
    for cells in rows.values():
        assert len(cells) == 4  # no note: nothing over its limit
        repetition, limit = (float(x.rstrip("x")) for x in cells[3].split(" of "))
        assert 0 < repetition <= limit
    assert "OVER LIMIT" not in result.out
    assert "feasible up to" in result.out


def test_run_demo_is_deterministic_and_counts_only_npy(tmp_path: Path) -> None:
    """Two demo runs write the same corpus and give identical mixes; sidecars are never counted."""
    first_corpus, first_config, first = run_demo(tmp_path / "one", root=REPO)
    second_corpus, second_config, second = run_demo(tmp_path / "two", root=REPO)
    assert corpus_files(first_corpus.data_root) == corpus_files(second_corpus.data_root)
    assert (first_corpus.files, first_corpus.tokens, first_corpus.folders) == (
        second_corpus.files,
        second_corpus.tokens,
        second_corpus.folders,
    )
    assert first.leaves == second.leaves
    assert first.training_tokens == second.training_tokens
    one, two = str(first_corpus.data_root), str(second_corpus.data_root)
    assert [
        (p.path.replace(one, ""), p.leaf, p.objects, p.tokens, p.weight) for p in first.paths
    ] == [(p.path.replace(two, ""), p.leaf, p.objects, p.tokens, p.weight) for p in second.paths]
    assert first_config.read_text(encoding="utf-8").replace(one, "") == second_config.read_text(
        encoding="utf-8"
    ).replace(two, "")
    assert first.infeasible == []
    assert first.training_tokens <= 0.8 * (first.max_training_tokens or 0)
    # Each listed glob counts exactly the folder's .npy files, not their .json sidecars.
    listed = [row for row in first.paths if row.objects is not None]
    assert listed
    for row in listed:
        folder = Path(row.path.removesuffix("/*.npy"))
        parts = list(folder.glob("*.npy"))
        assert row.objects == len(parts)
        assert row.tokens == sum(part.stat().st_size for part in parts) // 4
