"""Tests for qupsample.plot: stacked-bar pictures of resolved mixes."""

from __future__ import annotations

import re
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import PROFILES, REPO, SCHEMES, invoke

from qupsample.errors import UserError
from qupsample.plot import INSTALL_HINT, bar_labels, leaf_colours, plot_mixes
from qupsample.resolve import Mix, resolve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def mix(name: str, *sources: dict[str, Any]) -> Mix:
    """Resolves an inline config offline; sources are olmix source mappings."""
    config = {
        "name": name,
        "proxy_model_id": "olmo3_14m",
        "chinchilla_multiple": 0.5,
        "sources": list(sources),
    }
    return resolve(config, offline=True)


def topic(name: str, weight: float | None, **buckets: float | None) -> dict[str, Any]:
    """A topic with one quality bucket per keyword (bucket name -> weight)."""
    quality = [
        {"name": bucket, "paths": [f"s3://b/{name}/{bucket}/*.npy"]}
        | ({} if w is None else {"weight": w})
        for bucket, w in buckets.items()
    ]
    return {"name": name, "quality": quality} | ({} if weight is None else {"weight": weight})


def source(name: str, weight: float, *topics: dict[str, Any]) -> dict[str, Any]:
    """A source with the given topics, or plain paths when there are none."""
    body = {"topics": list(topics)} if topics else {"paths": [f"s3://b/{name}/*.npy"]}
    return {"name": name, "weight": weight} | body


@pytest.fixture(scope="module")
def upsampling_mixes() -> list[Mix]:
    """The 8 quality_upsampling mixes, rendered from the repo's specs."""
    return [
        resolve(f"{scheme}:{profile}", offline=True, root=REPO)
        for scheme in ("aggressive", "gradual")
        for profile in ("heavy_adult", "heavy_code", "heavy_science", "heavy_wiki")
    ]


@pytest.fixture(scope="module")
def two_mixes() -> list[Mix]:
    """Two small mixes sharing leaves at different positions, one leaf at weight 0."""
    first = mix(
        "mix-a",
        source("web", 90, topic("code", 60, high=70, low=30), topic("news", 40, high=1)),
        source("wiki", 10),
    )
    second = mix(
        "mix-b",
        source("books", 20),
        source("web", 80, topic("code", 100, high=50, mid=30, low=20), topic("news", 0, high=1)),
    )
    return [first, second]


@pytest.fixture(scope="module")
def two_svg(two_mixes: list[Mix], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The two small mixes drawn once as an SVG titled "two mixes"."""
    out = tmp_path_factory.mktemp("svg") / "two.svg"
    return plot_mixes(two_mixes, out, title="two mixes").read_bytes()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def luminance(colour: str) -> float:
    """Relative brightness of a `#rrggbb` colour, 0 (black) to 1 (white)."""
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.299 * red + 0.587 * green + 0.114 * blue


def fills(svg: str) -> list[str]:
    """Every fill colour in an SVG, one entry per use."""
    return re.findall(r"fill: (#[0-9a-f]{6})", svg)


def test_png_of_the_upsampling_mixes_is_a_sensible_png(
    upsampling_mixes: list[Mix], tmp_path: Path
) -> None:
    """The 8 quality_upsampling mixes make a PNG wider than tall, and wider than 1 bar."""
    out = plot_mixes(upsampling_mixes, tmp_path / "mixes.png", title="quality_upsampling")
    few = plot_mixes(upsampling_mixes[:1], str(tmp_path / "few.png"))
    data = out.read_bytes()
    assert out == tmp_path / "mixes.png"
    assert data.startswith(PNG_MAGIC)
    width, height = png_size(data)
    assert width >= 800
    assert height >= 400
    assert width > height
    assert png_size(few.read_bytes())[0] < width
    assert b"Software" not in data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["few.png", "mixes.png"]


def test_svg_is_xml_naming_the_mixes_and_byte_identical(
    two_mixes: list[Mix], two_svg: bytes, tmp_path: Path
) -> None:
    """An SVG parses as XML, labels both bars by name, and repeats byte for byte."""
    second = plot_mixes(two_mixes, tmp_path / "again.svg", title="two mixes").read_bytes()
    root = ET.fromstring(two_svg)
    text = two_svg.decode("utf-8")
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<!-- mix-a -->" in text
    assert "<!-- mix-b -->" in text
    assert "<!-- two mixes -->" in text
    assert two_svg == second


def test_long_mix_names_are_wrapped_and_kept_whole(tmp_path: Path) -> None:
    """A long name is wrapped after hyphens under its bar and stays whole in the metadata."""
    name = "quality-upsampling-aggressive-heavy-science"
    text = plot_mixes([mix(name, source("web", 1))], tmp_path / "m.svg").read_text("utf-8")
    lines = re.findall(r"<!-- (\S+) -->", text)
    start = lines.index("quality-")
    assert lines[start : start + 4] == ["quality-", "upsampling-", "aggressive-", "heavy-science"]
    assert name not in lines
    assert f"mixes: {name}" in text


def test_segments_are_labelled_with_their_percent(two_svg: bytes, tmp_path: Path) -> None:
    """Tall segments carry their % (one decimal); segments under 3% carry none."""
    text = two_svg.decode("utf-8")
    # mix-a: web:code:high = 0.9 * 0.6 * 0.7, web:news:high = 0.9 * 0.4, wiki = 0.1.
    for label in ("37.8%", "36.0%", "10.0%", "20.0%", "40.0%", "24.0%", "16.0%"):
        assert f"<!-- {label} -->" in text
    small = mix("small", source("big", 98), source("tiny", 2))
    text = plot_mixes([small], tmp_path / "small.svg").read_text(encoding="utf-8")
    assert "<!-- 98.0% -->" in text
    assert "<!-- 2.0% -->" not in text


def test_same_leaf_has_the_same_colour_in_every_bar(two_mixes: list[Mix], two_svg: bytes) -> None:
    """A leaf's colour fills its segment in each bar and its legend swatch, nothing else."""
    colours = leaf_colours(two_mixes)
    used = fills(two_svg.decode("utf-8"))
    assert len(set(colours.values())) == len(colours)
    # In both bars (at different heights) plus the legend.
    assert used.count(colours["web:code:high"]) == 3
    assert used.count(colours["web:code:low"]) == 3
    assert used.count(colours["web:code:mid"]) == 2
    assert used.count(colours["wiki"]) == 2
    # Weight 0 in mix-b: drawn once, in mix-a's bar and the legend.
    assert used.count(colours["web:news:high"]) == 2


def test_colours_group_buckets_by_topic_in_bucket_order(two_mixes: list[Mix]) -> None:
    """Hues follow first sight; a topic's buckets darken to lighten in merged order."""
    colours = leaf_colours(two_mixes)
    assert list(colours) == [
        "web:code:high",
        "web:code:mid",
        "web:code:low",
        "web:news:high",
        "wiki",
        "books",
    ]
    code = [colours[f"web:code:{b}"] for b in ("high", "mid", "low")]
    assert luminance(code[0]) < luminance(code[1]) < luminance(code[2])
    # A topic with one bucket, and plain sources, get the palette's base hues.
    assert colours["web:news:high"] == "#ff7f0e"
    assert colours["wiki"] == "#2ca02c"
    assert leaf_colours(two_mixes[::-1])["books"] == "#1f77b4"


def test_missing_matplotlib_says_how_to_install(
    two_mixes: list[Mix], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without matplotlib, plotting fails with the install hint and writes nothing."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UserError) as error:
        plot_mixes(two_mixes, tmp_path / "mix.png")
    assert str(error.value) == INSTALL_HINT
    assert "pip install 'qupsample[plot]'" in str(error.value)
    assert "\n" not in str(error.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["mix.pdf", "mix.jpg", "mix"])
def test_unsupported_suffix_is_a_user_error(
    two_mixes: list[Mix], tmp_path: Path, name: str
) -> None:
    """Only .png and .svg are accepted; the message names the file and both suffixes."""
    out = tmp_path / name
    with pytest.raises(UserError, match=r"use one of \.png, \.svg") as error:
        plot_mixes(two_mixes, out)
    assert str(error.value).startswith(f"{out}: unsupported picture format")
    assert not any(tmp_path.iterdir())


def test_no_mixes_is_a_user_error(tmp_path: Path) -> None:
    """An empty list of mixes is refused before anything is drawn."""
    with pytest.raises(UserError, match="no mixes to plot"):
        plot_mixes([], tmp_path / "mix.png")


def test_unknown_offline_weights_are_a_user_error(tmp_path: Path) -> None:
    """A mix resolved offline without weights is refused, naming the mix and its leaves."""
    counted = mix("needs-counts", source("web", 1, topic("code", None, high=None, low=None)))
    assert counted.needs_counts == ["web:code:high", "web:code:low"]
    with pytest.raises(UserError) as error:
        plot_mixes([counted], tmp_path / "mix.svg")
    message = str(error.value)
    assert message.startswith("needs-counts: 2 leaf weight(s) unknown")
    assert "web:code:high, web:code:low" in message
    assert "resolve with token counts" in message
    assert not any(tmp_path.iterdir())


# --- the plot command ------------------------------------------------------------------


def test_plot_cli_writes_a_png_of_the_mixes(tmp_path: Path) -> None:
    """`qupsample plot PAIR... -o FILE.png` writes a PNG image of a sensible size."""
    out = tmp_path / "mixes.png"
    pairs = [f"{s}:{p}" for p in PROFILES for s in SCHEMES]
    code, _, err = invoke("plot", *pairs, "-o", str(out), "--offline", "--root", str(REPO))
    assert code == 0, err
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1000 and height >= 400
    assert err == f"wrote {out}\n"


def test_plot_cli_without_matplotlib_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without matplotlib, plot exits 2 with one line naming the extra to install."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "mixes.png"
    code, _, err = invoke("plot", "aggressive:heavy_code", "-o", str(out), "--offline")
    assert code == 2
    assert err == "error: plot: matplotlib is not installed — pip install 'qupsample[plot]'\n"
    assert not out.exists()


def test_plot_of_the_eight_configs_needs_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explicit weights need no storage: plot works with no credentials and no endpoint."""
    from helpers import closed_port

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    configs = [
        str(REPO / "generated" / "quality_upsampling" / p / f"{s}.yaml")
        for p in PROFILES
        for s in SCHEMES
    ]
    out = tmp_path / "mixes.png"
    code, _, err = invoke("plot", *configs, "-o", str(out))
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bars_of_mixes_sharing_a_name_are_labelled_by_file(tmp_path: Path) -> None:
    """Three configs with one `name`: each bar carries its file name, enough to tell apart."""
    sources = [tmp_path / "a" / "same.yaml", tmp_path / "b" / "same.yaml", tmp_path / "other.yaml"]
    names = ["twin", "twin", "twin"]
    assert bar_labels(names, sources) == ["a/same.yaml", "b/same.yaml", "other.yaml"]
    assert bar_labels(["x", "twin", "twin"], ["x.yaml", "p.yaml", "q:r"]) == ["x", "p.yaml", "q:r"]
    assert bar_labels(["x", "x"]) == ["x", "x"]
    configs = []
    for index, folder in enumerate("abc"):
        (tmp_path / folder).mkdir()
        config = {
            "name": "twin",
            "proxy_model_id": "olmo3_14m",
            "sources": [source("web", index + 1), source("wiki", 1)],
        }
        path = tmp_path / folder / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        configs.append(str(path))
    out = tmp_path / "twins.svg"
    code, _, err = invoke("plot", *configs, "-o", str(out))
    assert code == 0, err
    text = out.read_text("utf-8")
    assert "mixes: a/config.yaml, b/config.yaml, c/config.yaml" in text
