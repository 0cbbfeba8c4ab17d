"""Tests for notebook use: `Mix.to_pandas`, `Mix`'s reprs, and examples/quickstart.ipynb."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import LEAF_COLUMNS, PATH_COLUMNS, REPO

from qupsample.errors import UserError
from qupsample.resolve import LeafRow, Mix, resolve

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KERNEL = "qupsample-test"


def counted_mix(training_tokens: int, **sources: float) -> Mix:
    """Resolves an inline config of plain-path sources offline, 1,000 tokens each."""
    config = {
        "name": "notebook-test",
        "proxy_model_id": "olmo3_14m",
        "sources": [
            {"name": name, "weight": weight, "paths": [f"s3://b/{name}/*.npy"]}
            for name, weight in sources.items()
        ],
    }
    priors = dict.fromkeys(sources, 1_000)
    return resolve(config, offline=True, priors=priors, training_tokens=training_tokens)


# ------------------------------------------------------------------ to_pandas


def test_to_pandas_leaves_has_one_row_per_leaf() -> None:
    """`to_pandas("leaves")` has the leaf columns and the rows of `to_records("leaves")`."""
    mix = counted_mix(1_000, wiki=1, arxiv=3)
    frame = mix.to_pandas("leaves")
    assert list(frame.columns) == LEAF_COLUMNS
    assert frame.to_dict("records") == mix.to_records("leaves")
    assert frame["weight"].sum() == pytest.approx(1.0)
    assert mix.to_pandas().equals(frame)


def test_to_pandas_paths_has_one_row_per_glob() -> None:
    """`to_pandas("paths")` has the path columns, one row per glob of the config."""
    mix = counted_mix(1_000, wiki=1, arxiv=3)
    frame = mix.to_pandas("paths")
    assert list(frame.columns) == PATH_COLUMNS
    assert list(frame["path"]) == ["s3://b/wiki/*.npy", "s3://b/arxiv/*.npy"]
    assert list(frame["leaf"]) == ["wiki", "arxiv"]


def test_to_pandas_rejects_an_unknown_kind() -> None:
    """An unknown kind is a ValueError naming the two kinds."""
    with pytest.raises(ValueError, match="'paths' or 'leaves'"):
        counted_mix(1_000, wiki=1).to_pandas("sources")


def test_to_pandas_without_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pandas, `to_pandas` raises one line that says which extra to install."""
    mix = counted_mix(1_000, wiki=1)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(UserError) as caught:
        mix.to_pandas("leaves")
    message = str(caught.value)
    assert "\n" not in message
    assert "pip install 'qupsample[notebook]'" in message


# ---------------------------------------------------------------------- reprs


def test_repr_is_one_short_line() -> None:
    """`repr(mix)` names the mix, its leaf count, budget and feasibility on one short line."""
    mix = resolve("aggressive:heavy_code", offline=True, root=REPO)
    leaves = len(mix.leaves)
    assert repr(mix) == (
        f"Mix('quality-upsampling-aggressive-heavy-code', {leaves} leaves,"
        " 138,958,080 training tokens, feasibility unknown: no token counts)"
    )
    assert repr(counted_mix(1_000, wiki=1, arxiv=1)) == (
        "Mix('notebook-test', 2 leaves, 1,000 training tokens, feasible)"
    )
    assert repr(counted_mix(3_000, wiki=1, arxiv=1)) == (
        "Mix('notebook-test', 2 leaves, 3,000 training tokens, not feasible: 2 leaves over limit)"
    )


def test_repr_html_lists_every_leaf_with_weights_in_percent() -> None:
    """The HTML table has one row per leaf, weights in %, tokens and the budget in its caption."""
    mix = counted_mix(1_000, wiki=1, arxiv=3)
    page = mix._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    assert len(rows) == 1 + len(mix.leaves)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in rows]
    assert cells[0] == ["leaf", "weight %", "tokens", "requested", "repetition", "max", "flag"]
    assert cells[1:] == [
        ["wiki", "25.000", "1,000", "250", "0.250x", "1x", ""],
        ["arxiv", "75.000", "1,000", "750", "0.750x", "1x", ""],
    ]
    assert "training tokens 1,000" in page
    assert "OVER LIMIT" not in page


def test_repr_html_flags_leaves_over_limit_and_below_minimum_weight() -> None:
    """Leaves over their repetition limit say OVER LIMIT; tiny ones say below minimum_weight."""
    mix = counted_mix(2_000, wiki=1, arxiv=3)
    page = mix._repr_html_()
    assert page.count("OVER LIMIT") == 1
    assert re.search(r">arxiv<.*>1\.500x<.*>OVER LIMIT<", page)
    assert "not feasible: 1 leaf over limit" in page
    low = replace(counted_mix(1_000, wiki=1, arxiv=3), minimum_weight=0.5)
    assert re.search(r">wiki<.*>below minimum_weight<", low._repr_html_())


def test_repr_html_escapes_names_and_unknown_numbers() -> None:
    """Markup in the mix or leaf names is escaped; unknown numbers show as `?`."""
    mix = counted_mix(1_000, wiki=1)
    leaf = LeafRow("web:<script>&", None, None, None, None, 1.0)
    odd = replace(mix, name="<b>mix</b>", leaves=(leaf,), warnings=("a < b",))
    page = odd._repr_html_()
    assert "<script>" not in page
    assert "web:&lt;script&gt;&amp;" in page
    assert "&lt;b&gt;mix&lt;/b&gt;" in page
    assert "<li>a &lt; b</li>" in page
    assert page.count(">?<") == 4


# ------------------------------------------------------------------- notebook


def execute_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Runs the quickstart on a fresh kernel of this venv's Python; files go under tmp_path."""
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    import nbclient
    import nbformat
    from ipykernel.kernelspec import install

    prefix = tmp_path / "jupyter"
    # A kernelspec of its own name, whose argv is this interpreter: no other Python's
    # kernel (a user's or the system's python3) can be picked instead.
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    install(prefix=str(prefix), kernel_name=KERNEL)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # The notebook's tempfile.mkdtemp() lands here.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=120,
        startup_timeout=60,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    return notebook


def cell_outputs(notebook: Any, cell_id: str) -> list[dict[str, Any]]:
    """The outputs of the code cell with this id."""
    (cell,) = [cell for cell in notebook.cells if cell.get("id") == cell_id]
    outputs: list[dict[str, Any]] = cell.outputs
    return outputs


def stdout(notebook: Any, cell_id: str) -> str:
    """What the cell printed."""
    return "".join(
        output["text"]
        for output in cell_outputs(notebook, cell_id)
        if output["output_type"] == "stream" and output["name"] == "stdout"
    )


def result(notebook: Any, cell_id: str) -> dict[str, Any]:
    """The display data of the cell's last expression (or its one displayed object)."""
    (output,) = [
        output
        for output in cell_outputs(notebook, cell_id)
        if output["output_type"] in ("execute_result", "display_data")
    ]
    data: dict[str, Any] = output["data"]
    return data


def test_quickstart_notebook_runs_and_shows_the_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quickstart runs on a real kernel: table, DataFrame, picture and diff show the mix."""
    before = sorted(path.name for path in NOTEBOOK.parent.iterdir())
    notebook = execute_notebook(tmp_path, monkeypatch)
    assert sorted(path.name for path in NOTEBOOK.parent.iterdir()) == before
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert [o for o in cell.outputs if o["output_type"] == "error"] == []
    expected = resolve("aggressive:heavy_code", offline=True, root=REPO)
    written = sorted((tmp_path / "scratch").iterdir())
    assert len(written) == 1
    workdir = written[0]

    assert re.fullmatch(
        r"\d+ \.npy files, [\d,]+ tokens, \d+ folders\n", stdout(notebook, "corpus")
    )
    header = stdout(notebook, "render")
    assert header.startswith("# quality-upsampling-aggressive-heavy-code\n")
    assert "#   top10pct 70: vigintiles 0018, 0020\n" in header

    # The resolved mix shows as the HTML table: every leaf, with the spec's weights.
    shown = result(notebook, "resolve")
    assert shown["text/plain"].startswith("Mix('quality-upsampling-aggressive-heavy-code', ")
    assert shown["text/plain"].endswith(", feasible)")
    assert "not feasible" in stdout(notebook, "resolve")  # the full budget is too much
    page = shown["text/html"]
    for leaf in expected.leaves:
        assert f">{leaf.leaf}<" in page
        assert f">{100 * (leaf.weight or 0):.3f}<" in page
    assert "OVER LIMIT" not in page

    # The DataFrame: every leaf, weights summing to 100%.
    assert stdout(notebook, "table") == f"{len(expected.leaves)} leaves, weights sum to 100.000%\n"
    assert "requested_tokens" in result(notebook, "table")["text/html"]
    by_source = result(notebook, "by-source")["text/plain"]
    assert re.search(r"all_dressed\s+software_development\s+50\.0\n", by_source)
    assert re.search(r"arxiv\s+1\.0\n", by_source)

    # The picture: a PNG shown inline and written under the notebook's temporary folder.
    png = base64.b64decode(result(notebook, "plot")["image/png"])
    assert png.startswith(PNG_MAGIC)
    assert (workdir / "mixes.png").read_bytes() == png

    # The diff: aggressive drops the 30-50% buckets that gradual keeps.
    counts = re.fullmatch(r"(\d+) of (\d+) leaves change\n", stdout(notebook, "diff"))
    assert counts
    assert 0 < int(counts[1]) <= int(counts[2])
    table = result(notebook, "diff")["text/plain"]
    assert "all_dressed:software_development:30-50pct" in table
    assert "aggressive %" in table
    assert "gradual %" in table


def test_quickstart_notebook_is_committed_without_outputs() -> None:
    """The committed notebook has no outputs or execution counts, so its diffs stay clean."""
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == []
        assert cell.execution_count is None


def test_readme_runs_the_quickstart_headless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's `jupyter execute` line runs the quickstart with what .venv has."""
    lines = (REPO / "README.md").read_text().splitlines()
    (line,) = [line for line in lines if line.startswith("$ .venv/bin/jupyter execute")]
    command = line.removeprefix("$ ").partition("#")[0].split()
    assert command == [".venv/bin/jupyter", "execute", "examples/quickstart.ipynb"]
    prefix = tmp_path / "jupyter"
    from ipykernel.kernelspec import install

    # This interpreter's kernel under the notebook's kernel name, found before any other.
    install(prefix=str(prefix), kernel_name="python3")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {
        **os.environ,
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLBACKEND": "Agg",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TMPDIR": str(scratch),
    }
    jupyter = Path(sys.executable).with_name("jupyter")
    before = NOTEBOOK.read_bytes()
    result = subprocess.run(
        [str(jupyter), *command[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Executing notebook with kernel: python3" in result.stderr
    assert NOTEBOOK.read_bytes() == before
    assert list(scratch.glob("qupsample-quickstart-*/mixes.png"))


def test_version_is_the_installed_distributions() -> None:
    """`qupsample.__version__` is what `--version` prints: the installed metadata."""
    from importlib.metadata import version

    import qupsample

    assert qupsample.__version__ == version("qupsample")
    assert "__version__" in qupsample.__all__
