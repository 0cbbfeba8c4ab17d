"""Tests for the threshold family, sweeps, diff and the hook."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, invoke, make_project, table_rows

from qupsample.demo import write_demo_corpus
from qupsample.generator import generate
from qupsample.renderer import render
from qupsample.resolve import resolve

GOLDEN_SWEEP = REPO / "tests" / "golden_sweep"
PROFILES = ["heavy_adult", "heavy_code", "heavy_science", "heavy_wiki"]
THRESHOLDS = {
    "top10pct": [18, 20],
    "top30pct": [15, 16, 17, 18, 20],
    "top50pct": [*range(11, 19), 20],
    "top70pct": [*range(7, 19), 20],
}
PAIRS = [(s, p) for p in PROFILES for s in ("aggressive", "gradual", *THRESHOLDS)]


def load(path: Path) -> dict[str, Any]:
    """A generated config, parsed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local synthetic corpus with the real layout (the demo's), written once."""
    data_root = tmp_path_factory.mktemp("corpus") / "data"
    write_demo_corpus(data_root, root=REPO)
    return data_root


# --- the threshold family --------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("threshold", sorted(THRESHOLDS))
def test_threshold_configs_list_single_vigintile_buckets_without_weights(
    threshold: str, profile: str
) -> None:
    """Each threshold config gives every topic one weightless bucket per included vigintile."""
    config = load(REPO / "generated" / "quality_thresholds" / profile / f"{threshold}.yaml")
    assert config["name"] == f"quality-{threshold}-{profile.replace('_', '-')}"
    all_dressed = next(s for s in config["sources"] if s["name"] == "all_dressed")
    assert len(all_dressed["topics"]) == 6
    for topic in all_dressed["topics"]:
        names = [b["name"] for b in topic["quality"]]
        assert names == [f"vigintile_{v:04d}" for v in THRESHOLDS[threshold]]
        for bucket in topic["quality"]:
            assert "weight" not in bucket
            assert bucket["paths"] == [
                f"s3://ai2-llm/preprocessed/cc_all_dressed/all_dressed_v3/dclm_plus2_vigilantes/"
                f"allenai/dolma2-tokenizer/{topic['name']}/{bucket['name']}/*.npy"
            ]


def test_threshold_family_is_in_generate_check(tmp_path: Path) -> None:
    """`generate --check` reports a stale threshold config like any other."""
    root = tmp_path / "project"
    for folder in ("schemes", "templates", "generated"):
        shutil.copytree(REPO / folder, root / folder)
    path = root / "generated" / "quality_thresholds" / "heavy_code" / "top10pct.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    report = generate(root=root, check=True)
    assert report.stale == ["quality_thresholds/heavy_code/top10pct.yaml"]
    assert not report.missing and not report.orphaned


def test_threshold_resolve_splits_topics_by_token_counts(tmp_path: Path) -> None:
    """Resolving heavy_code/top10pct splits each topic across 0018 and 0020 by their tokens."""
    data_root = tmp_path / "data"
    text = render("top10pct", "heavy_code", root=REPO, overrides={"data_root": str(data_root)})
    config = yaml.safe_load(text)
    sizes = {}  # tokens per (topic, vigintile): 0018 gets 3x the tokens of 0020 in topic 0
    for t, topic in enumerate(config["sources"][0]["topics"]):
        for bucket, tokens in zip(topic["quality"], (300 * (t + 1), 100 * (t + 1)), strict=True):
            folder = Path(bucket["paths"][0]).parent
            folder.mkdir(parents=True)
            (folder / "part-0.npy").write_bytes(bytes(4 * tokens))
            (folder / "part-0.npy.json").write_text("{}")
            sizes[topic["name"], bucket["name"][-4:]] = tokens
    for source in config["sources"][1:]:
        folder = Path(source["paths"][0]).parent
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "a.npy").write_bytes(bytes(4 * 1000))
    mix = resolve(config, cache=False, training_tokens=1000)
    weights = {leaf.leaf: leaf.weight for leaf in mix.leaves}
    topic_weights = {"science_math_and_technology": 20, "software_development": 50}
    for topic, topic_weight in topic_weights.items():
        share = 0.98 * topic_weight / 98
        total = sizes[topic, "0018"] + sizes[topic, "0020"]
        for v in ("0018", "0020"):
            expected = share * sizes[topic, v] / total
            assert weights[f"all_dressed:{topic}:vigintile_{v}"] == pytest.approx(expected, 1e-12)


# --- sweeps -----------------------------------------------------------------------------


def sweep_project(tmp_path: Path) -> Path:
    """A copy of the specs with one family (quality_upsampling) and one profile (heavy_code)."""
    return make_project(tmp_path, profiles=["heavy_code"])


def test_sweep_matches_golden_files(tmp_path: Path, update_golden: bool) -> None:
    """`generate --sweep proxy_model_id=olmo3_14m,olmo3_60m` writes the golden sweep tree."""
    root = sweep_project(tmp_path)
    out = root / "generated" / "sweeps"
    code, _, err = invoke(
        "generate", "--sweep", "proxy_model_id=olmo3_14m,olmo3_60m", "--root", str(root)
    )
    assert code == 0, err
    written = {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }
    if update_golden:
        shutil.rmtree(GOLDEN_SWEEP, ignore_errors=True)
        for relative, data in written.items():
            (GOLDEN_SWEEP / relative).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN_SWEEP / relative).write_bytes(data)
    golden = {
        p.relative_to(GOLDEN_SWEEP).as_posix(): p.read_bytes()
        for p in sorted(GOLDEN_SWEEP.rglob("*"))
        if p.is_file()
    }
    assert written == golden
    assert sorted(written) == [
        f"{form}/proxy_model_id-{m}/{f}"
        for form in ("quality_upsampling", "quality_upsampling_launch")
        for m in ("olmo3_14m", "olmo3_60m")
        for f in (
            "README.md",
            "batch_run.sh",
            "heavy_code/aggressive.yaml",
            "heavy_code/gradual.yaml",
        )
    ]


def test_sweep_names_and_settings_follow_the_value(tmp_path: Path) -> None:
    """Each sweep value gets its setting, a name suffix, a header and a usage path."""
    root = sweep_project(tmp_path)
    out = tmp_path / "sweeps"
    generate(out, root=root, sweep=("chinchilla_multiple", ["0.5", "1", "2"]))
    for value, tokens in (("0.5", "140M"), ("1", "280M"), ("2", "560M")):
        path = (
            out
            / "quality_upsampling"
            / f"chinchilla_multiple-{value}"
            / "heavy_code"
            / "gradual.yaml"
        )
        text = path.read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        assert config["name"] == f"quality-upsampling-gradual-heavy-code-{value}"
        assert str(config["chinchilla_multiple"]) == value
        assert f"x 20 x 14M = {tokens}\n" in text
        # With --out, the usage line shows the file where it really is.
        assert (
            f"# Usage: olmix launch run --config {out.as_posix()}/quality_upsampling/"
            f"chinchilla_multiple-{value}/heavy_code/gradual.yaml\n"
        ) in text
    assert (
        generate(
            out, root=root, sweep=("chinchilla_multiple", ["0.5", "1", "2"]), check=True
        ).differs
        is False
    )


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("nodes=1,x", "error: --sweep: nodes: "),
        ("nodez=1,2", "error: --sweep: nodez: unknown key — did you mean 'nodes'?"),
        ("nodes", "error: --sweep: 'nodes': expected KEY=V1,V2,..."),
        ("nodes=1,1", "error: --sweep: nodes: a value is listed twice"),
        ("nodes=1,,2", "error: --sweep: nodes: needs values"),
    ],
)
def test_bad_sweeps_are_one_line_errors(tmp_path: Path, sweep: str, message: str) -> None:
    """A bad --sweep exits 2 with one line and writes nothing."""
    out = tmp_path / "out"
    code, _, err = invoke("generate", "--sweep", sweep, "--out", str(out), "--root", str(REPO))
    assert code == 2
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


# --- diff ---------------------------------------------------------------------------------


def test_diff_of_a_file_and_its_pair_is_equal() -> None:
    """A generated file and the SCHEME:PROFILE it came from have the same mix: exit 0."""
    config = REPO / "generated" / "quality_upsampling" / "heavy_code" / "gradual.yaml"
    code, out, err = invoke("diff", str(config), "gradual:heavy_code", "--root", str(REPO))
    assert code == 0, err
    assert out == f"{config} and gradual:heavy_code: same mix (20 leaves)\n"


def test_diff_lists_changed_leaves_and_exits_1() -> None:
    """aggressive vs gradual differs in the top10pct and 30-50pct buckets of every topic."""
    code, out, _ = invoke(
        "diff",
        "aggressive:heavy_code",
        "gradual:heavy_code",
        "--format",
        "json",
        "--root",
        str(REPO),
    )
    assert code == 1
    data = json.loads(out)
    assert data["equal"] is False
    changed = {leaf["leaf"]: leaf for leaf in data["leaves"] if leaf["changed"]}
    assert len(changed) == 12
    leaf = changed["all_dressed:software_development:top10pct"]
    assert leaf["weight_a"] == pytest.approx(0.35, abs=1e-12)
    assert leaf["weight_b"] == pytest.approx(0.25, abs=1e-12)
    assert changed["all_dressed:software_development:30-50pct"]["weight_a"] == 0.0
    assert "all_dressed:software_development:10-30pct" not in changed


def test_diff_table_shows_percentage_point_changes() -> None:
    """The table lists each changed leaf with A %, B % and the change in points."""
    code, out, _ = invoke(
        "diff", "aggressive:heavy_code", "gradual:heavy_code", "--root", str(REPO)
    )
    assert code == 1
    rows = table_rows(out)
    assert rows["all_dressed:software_development:top10pct"] == ["35.000", "25.000", "-10.000"]
    assert "12 of 20 leaves differ" in out


def test_diff_with_tokens_compares_counts(corpus: Path, tmp_path: Path) -> None:
    """With --tokens, leaves whose data differ show up even when weights are equal."""
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text(
        render("aggressive", "heavy_code", root=REPO, overrides={"data_root": str(corpus)})
    )
    other = tmp_path / "other"
    shutil.copytree(corpus, other)
    extra = next(other.rglob("vigintile_0020"))
    (extra / "part-99999.npy").write_bytes(bytes(400))
    b.write_text(render("aggressive", "heavy_code", root=REPO, overrides={"data_root": str(other)}))
    assert invoke("diff", str(a), str(b), "--root", str(REPO))[0] == 0
    code, out, _ = invoke("diff", str(a), str(b), "--tokens", "-f", "json")
    assert code == 1
    changed = [leaf for leaf in json.loads(out)["leaves"] if leaf["changed"]]
    assert len(changed) == 1
    assert changed[0]["tokens_b"] - changed[0]["tokens_a"] == 100


def test_diff_errors_are_one_line() -> None:
    """An unknown pair in diff is a one-line error, exit 2."""
    code, _, err = invoke("diff", "aggresive:heavy_code", "gradual:heavy_code", "--root", str(REPO))
    assert code == 2
    assert err.startswith("error: aggresive:heavy_code: scheme 'aggresive': not found")
    assert len(err.strip().splitlines()) == 1


# --- pre-commit hook ----------------------------------------------------------------------


def test_pre_commit_hook_runs_generate_check() -> None:
    """The `qupsample-check` hook runs `qupsample generate --check` once per commit."""
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "qupsample-check")
    assert hook["entry"] == "qupsample generate --check"
    assert hook["pass_filenames"] is False
    assert re.search(hook["files"], "schemes/weighting/gradual.yaml")
    assert re.search(hook["files"], "generated/quality_upsampling/README.md")


# --- plot -----------------------------------------------------------------------------------


def test_plot_cli_writes_a_png_of_the_mixes(tmp_path: Path) -> None:
    """`qupsample plot PAIR... -o FILE.png` writes a PNG image of a sensible size."""
    out = tmp_path / "mixes.png"
    pairs = [f"{s}:{p}" for s, p in PAIRS if s in ("aggressive", "gradual")]
    code, _, err = invoke("plot", *pairs, "-o", str(out), "--offline", "--root", str(REPO))
    assert code == 0, err
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1000 and height >= 400
    assert err == f"wrote {out}\n"


def test_plot_cli_without_matplotlib_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without matplotlib, plot exits 2 with one line naming the extra to install."""
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    out = tmp_path / "mixes.png"
    code, _, err = invoke("plot", "aggressive:heavy_code", "-o", str(out), "--offline")
    assert code == 2
    assert err == "error: plot: matplotlib is not installed — pip install 'qupsample[plot]'\n"
    assert not out.exists()


# --- edges ------------------------------------------------------------------------------------


def test_a_second_sweep_keeps_the_first(tmp_path: Path) -> None:
    """Sweeps of different keys live side by side: the second does not remove the first."""
    root = sweep_project(tmp_path)
    out = tmp_path / "sweeps"
    generate(out, root=root, sweep=("chinchilla_multiple", ["0.5", "1"]))
    report = generate(out, root=root, sweep=("proxy_model_id", ["olmo3_14m", "olmo3_60m"]))
    assert report.orphaned == []
    assert (out / "quality_upsampling" / "chinchilla_multiple-1" / "heavy_code").is_dir()
    again = generate(out, root=root, sweep=("chinchilla_multiple", ["0.5"]), check=True)
    # A sweep owns the folders of its own values only.
    assert (again.orphaned, again.differs) == ([], False)


def test_generate_one_family(tmp_path: Path) -> None:
    """`generate --family quality_thresholds` writes that family only; unknown names suggest."""
    code, _, err = invoke(
        "generate", "--family", "quality_thresholds", "--out", str(tmp_path), "--root", str(REPO)
    )
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quality_thresholds"]
    code, _, err = invoke("generate", "--family", "quality_tresholds", "--root", str(REPO))
    assert code == 2
    assert "did you mean 'quality_thresholds'?" in err


def test_retargeted_family_readme_names_the_data_root(tmp_path: Path) -> None:
    """The family README shows the data_root the configs were built on."""
    generate(tmp_path, root=REPO, overrides={"data_root": "/mnt/mirror"})
    readme = (tmp_path / "quality_upsampling" / "README.md").read_text(encoding="utf-8")
    assert "built on `data_root` = `/mnt/mirror`" in readme


def test_diff_offline_refuses_weights_that_need_counts() -> None:
    """Offline, threshold configs cannot be compared: one line, exit 2, never 'same mix'."""
    code, out, err = invoke(
        "diff", "top10pct:heavy_code", "top30pct:heavy_code", "--offline", "--root", str(REPO)
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: top10pct:heavy_code: weights need token counts")
    assert "drop --offline" in err


def test_template_syntax_error_is_a_user_error(tmp_path: Path) -> None:
    """A Jinja syntax error in the config template is one line naming the file: exit 2."""
    root = sweep_project(tmp_path)
    template = root / "templates" / "olmix-experiment.yaml.j2"
    template.write_text("{% for %}\n", encoding="utf-8")
    code, _, err = invoke("render", "aggressive", "heavy_code", "--root", str(root))
    assert code == 2
    assert err.startswith("error: templates/olmix-experiment.yaml.j2:1: ")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("value", "printed"), [("1e-3", "0.001"), ("2.5E2", "250.0")])
def test_set_reads_exponent_numbers(value: str, printed: str) -> None:
    """`--set chinchilla_multiple=1e-3` is a number, as in spec files."""
    text = render("aggressive", "heavy_code", root=REPO, overrides={"chinchilla_multiple": value})
    assert f"\nchinchilla_multiple: {printed}\n" in text


@pytest.mark.parametrize(
    ("paths", "extra", "message"),
    [
        (["gs://bkt/x/*.npy"], [], "no filesystem for gs://"),
        (["foo://bkt/x/*.npy"], [], "foo://bkt/x/*.npy: "),
        (["s3://bkt/x/*.npy"], ["--endpoint-url", "http://127.0.0.1:99999"], "not a valid URI"),
        (["s3://bkt/x/*.npy"], ["--endpoint-url", "http://[::1"], "Invalid IPv6 URL"),
    ],
)
def test_bad_urls_and_endpoints_are_one_line_errors(
    tmp_path: Path, paths: list[str], extra: list[str], message: str
) -> None:
    """Unknown protocols and malformed endpoints exit 2 with one line, never a traceback."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"name": "t", "proxy_model_id": "olmo3_14m", "sources": [{"name": "a", "paths": paths}]}
        )
    )
    code, _, err = invoke("resolve", str(config), "--no-cache", *extra)
    assert code == 2, err
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_storage_timeouts_bound_a_silent_endpoint_under_30_seconds() -> None:
    """Default S3 timeouts x attempts, plus backoff, keep a silent endpoint under 30 s."""
    from qupsample import storage

    attempts = storage._TIMEOUT_ATTEMPTS
    timeouts = attempts * max(storage._CONNECT_TIMEOUT_S, storage._READ_TIMEOUT_S)
    backoff = sum(storage.DEFAULT_BACKOFF_BASE_S * 2**n for n in range(attempts - 1))
    assert timeouts + backoff < 30
