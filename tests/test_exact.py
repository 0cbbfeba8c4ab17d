"""Exact or loud: inputs that would give a silently wrong number are refused or warned about."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, assert_one_error_line, entry, invoke, write_config

from qupsample.resolve import resolve
from qupsample.specs import load_proxies

SETTINGS = {"proxy_model_id": "olmo3_14m", "tokenizer": "dolma2", "chinchilla_multiple": 0.5}


def _flat(**sources: float) -> dict[str, Any]:
    return {
        "name": "exact",
        **SETTINGS,
        "sources": [entry(n, w, paths=[f"data/{n}/*.npy"]) for n, w in sources.items()],
    }


# --- priors that match nothing, and feasibility from part of the leaves ---------------


def test_priors_keys_that_match_no_leaf_are_loud(tmp_path: Path) -> None:
    """A --priors key naming no leaf is one warning with a did-you-mean; --strict exits 1."""
    config = write_config(tmp_path, _flat(web=1, wiki=1))
    priors = write_config(
        tmp_path, {"priors": {"token_counts": {"web": 10**9, "wikki": 10**9}}}, "p.yaml"
    )
    code, _, err = invoke("resolve", config, "--offline", "--priors", priors, "-f", "json")
    assert code == 0
    [line] = [x for x in err.splitlines() if "no data leaf" in x]
    assert line == (
        f"warning: {config}: --priors: wikki names no data leaf, so the count is not used"
        " — did you mean 'wiki'? fix the key, or count again with `qupsample priors CONFIG`"
    )
    code, _, _ = invoke("resolve", config, "--offline", "--priors", priors, "--strict")
    assert code == 1
    # A config's own priors: block: the same rule, named by its field.
    own = write_config(
        tmp_path, {**_flat(web=1), "priors": {"token_counts": {"books": 5}}}, "own.yaml"
    )
    assert any(
        "priors.token_counts: books names no data leaf" in w
        for w in resolve(own, offline=True).mismatches
    )


def test_feasibility_from_counted_leaves_alone_is_never_shown(tmp_path: Path) -> None:
    """Two of three weighted leaves uncounted: no 'feasible up to', JSON null plus the
    uncounted leaves, a warning naming them, even with an explicit budget."""
    config = write_config(tmp_path, _flat(a=1, b=1, c=1))
    priors = write_config(tmp_path, {"token_counts": {"a": 3 * 10**9}}, "p.yaml")
    args = ["resolve", config, "--offline", "--priors", priors]
    code, table, err = invoke(*args, "--training-tokens", 2 * 10**9)
    assert code == 0
    assert "feasible up to" not in table
    assert "feasibility unknown: no count for b, c" in table
    assert "warning: feasibility unknown: no token count for 2 sampled leaf(s): b, c" in err
    code, out, _ = invoke(*args, "-f", "json")
    data = json.loads(out)
    assert data["max_training_tokens"] is None
    assert data["unknown_tokens"] == ["b", "c"]
    full = write_config(tmp_path, {"token_counts": {"a": 3, "b": 3, "c": 3}}, "full.yaml")
    data = json.loads(invoke("resolve", config, "--offline", "--priors", full, "-f", "json").out)
    assert (data["max_training_tokens"], data["unknown_tokens"]) == (9, [])


# --- the trainer's budget and tokenizers ---------------------------------------------

# (model, tokenizer, chinchilla_multiple) -> tokens the trainer trains, from the table of
# non-embedding parameters: int(20 x params x multiple).
TRAINER = [
    ("olmo3_14m", "dolma2", 0.5, 138_958_080),
    ("olmo3_1b", "dolma2", 1.0, 25_587_916_800),
    ("olmo3_600m", "dolma2", 1.0, 10_959_283_200),
    ("olmo3_14m", "gpt_neox", 0.5, 74_896_640),
    ("olmo2_1m", "dolma2", 1.0, 24_887_920),
]


@pytest.mark.parametrize(("model", "tokenizer", "multiple", "tokens"), TRAINER)
def test_the_budget_is_what_the_trainer_trains(
    model: str, tokenizer: str, multiple: float, tokens: int
) -> None:
    """resolve's default budget is int(20 x non-embedding parameters x multiple)."""
    config = {**_flat(web=1), "proxy_model_id": model, "tokenizer": tokenizer,
              "chinchilla_multiple": multiple}  # fmt: skip
    assert resolve(config, offline=True, root=REPO).training_tokens == tokens


def test_olmo3_1b_trains_28_percent_more_and_600m_8_7_percent_less_than_nominal() -> None:
    """The figures the reference gives, from proxies.yaml."""
    proxies = load_proxies(REPO)
    big = proxies.budget("olmo3_1b", 1, "dolma2")
    small = proxies.budget("olmo3_600m", 1, "dolma2")
    assert round(big.tokens / big.nominal - 1, 2) == 0.28
    assert round(1 - small.tokens / small.nominal, 3) == 0.087


def test_gpt_neox_launch_config_reads_uint16(tmp_path: Path) -> None:
    """--set tokenizer=gpt_neox writes data.dtype uint16: the dtype matches the tokenizer."""
    code, out, err = invoke("render", "aggressive", "heavy_wiki", "--template", "olmix-launch",
                            "--set", "tokenizer=gpt_neox", "--root", REPO)  # fmt: skip
    assert code == 0, err
    document = yaml.safe_load(out)
    assert document["data"]["dtype"] == "uint16"
    assert document["training"]["tokenizer"] == "gpt_neox"
    # The paths are dolma2 token files: said, in one line.
    [line] = err.splitlines()
    assert "tokenizer: is gpt_neox, but s3://" in line
    assert "(dolma2 token ids) — set the tokenizer to dolma2" in line


def test_a_tokenizer_the_trainer_rejects_is_a_warning_for_launch_configs() -> None:
    """llama3 is a known tokenizer, but the trainer fails on it: a warning, --strict 1."""
    args = ["render", "aggressive", "heavy_code", "--template", "olmix-launch",
            "--set", "tokenizer=llama3", "--root", REPO]  # fmt: skip
    code, _, err = invoke(*args)
    assert code == 0
    assert "training.tokenizer: the trainer accepts only dolma2, gpt_neox, not 'llama3'" in err
    code, _, err = invoke(*args, "--strict")
    assert code == 1
    assert err.splitlines()[-1].endswith("warning(s) (--strict)")


def test_olmo2_1m_is_known_and_olmo2_7b_cannot_be_built(tmp_path: Path) -> None:
    """olmix accepts olmo2_1m; olmo2_7b is listed but fails to build: a launch warning."""
    code, _, err = invoke("render", "gradual", "heavy_code", "--template", "olmix-launch",
                          "--set", "proxy_model_id=olmo2_7b", "--root", REPO)  # fmt: skip
    assert code == 0
    assert "training.proxy_model_id: olmix lists olmo2_7b but the trainer cannot build it" in err
    code, _, err = invoke("render", "gradual", "heavy_code", "--template", "olmix-launch",
                          "--set", "proxy_model_id=olmo2_1m", "--root", REPO)  # fmt: skip
    assert (code, err) == (0, "")


# --- readers read what they need, and our own output passes our own checks --------------


def _without_eval(tmp_path: Path) -> Path:
    """A config from olmix's history: infra, training, data (weighted) and swarm, no eval."""
    launch = REPO / "generated" / "quality_upsampling_launch" / "heavy_wiki" / "aggressive.yaml"
    data = yaml.safe_load(launch.read_text(encoding="utf-8"))
    del data["eval"]
    data["swarm"] = {"seed": 42, "variants": 1}
    return write_config(tmp_path, data, "history.yaml")


def test_a_config_without_eval_is_read_with_one_warning(tmp_path: Path) -> None:
    """resolve, diff, plot, priors and convert read it; resolve warns once about eval."""
    path = _without_eval(tmp_path)
    code, out, err = invoke("resolve", path, "--offline", "-f", "json")
    assert code == 0, err
    weights = {leaf["leaf"]: leaf["weight"] for leaf in json.loads(out)["leaves"]}
    assert weights["wikipedia"] == pytest.approx(0.3)
    eval_lines = [line for line in err.splitlines() if ": eval: " in line]
    assert eval_lines == [
        f"warning: {path}: eval: missing: current olmix refuses a launch config without one"
        " — add it: `qupsample convert` writes the project's in-loop suite"
    ]
    assert invoke("resolve", path, "--offline", "--strict").code == 1
    launch = REPO / "generated" / "quality_upsampling_launch" / "heavy_wiki" / "aggressive.yaml"
    assert invoke("diff", path, launch, "--offline").code == 0
    assert invoke("plot", path, "-o", tmp_path / "p.png", "--offline").code == 0
    converted = invoke("convert", path, "--offline", "--root", REPO)
    assert converted.code == 0, converted.err
    assert yaml.safe_load(converted.out)["eval"]["type"] == "inloop"
    # priors reads it too: it gets as far as listing (nothing listens on port 9).
    priors = invoke("priors", path, "--endpoint-url", "http://127.0.0.1:9", "--max-attempts", 1)
    assert "cannot reach http://127.0.0.1:9" in priors.err


def test_render_keep_zero_warns_as_resolve_strict_does(tmp_path: Path) -> None:
    """--keep-zero writes leaves at weight 0, which olmix drops: render says so in the words
    resolve --strict uses, and its own output then fails resolve --strict alike."""
    out = tmp_path / "kept.yaml"
    code, _, err = invoke("render", "gradual", "heavy_code", "--template", "olmix-launch",
                          "--keep-zero", "-o", out, "--root", REPO)  # fmt: skip
    assert code == 0
    [warning] = err.splitlines()
    assert "mix: weight 0 for data leaf all_dressed:science_math_and_technology:50-70pct" in warning
    code, _, strict = invoke("resolve", out, "--offline", "--strict", "-f", "json")
    assert code == 1
    same = warning.split(": mix: ", 1)[1]
    assert any(line.endswith(same) for line in strict.splitlines())


def test_render_warns_exactly_as_lint_and_resolve_strict_do(tmp_path: Path) -> None:
    """On the bytes render writes (either form), its warnings are the findings lint and
    resolve --strict report: the same count, the same lines."""
    for template in ("olmix-experiment", "olmix-launch"):
        out = tmp_path / f"{template}.yaml"
        args = ["render", "aggressive", "heavy_code", "--template", template,
                "--set", "tokenizer=llama3", "-o", out, "--root", REPO]  # fmt: skip
        code, _, err = invoke(*args)
        warned = [line.split(": ", 2)[2] for line in err.splitlines()]
        assert code == 0 and len(warned) == 3, err
        code, _, strict = invoke(
            "resolve", out, "--offline", "--strict", "-f", "json", "--root", REPO
        )
        assert code == 1
        said = [line.split(": ", 2)[2] for line in strict.splitlines() if line.startswith("warn")]
        assert sorted(said) == sorted(warned)
        code, found, _ = invoke("lint", out, "--root", REPO)
        assert (code, len(found.splitlines())) == (1, 3)


def test_an_unknown_tokenizer_is_refused_where_it_is_set() -> None:
    """`--set tokenizer=dolmaa` would count with a guessed dtype: refused, with a
    did-you-mean, in one line."""
    code, out, err = invoke("render", "aggressive", "heavy_code", "--set", "tokenizer=dolmaa",
                            "--root", REPO)  # fmt: skip
    assert_one_error_line(
        code, out, err, "--set: tokenizer: unknown tokenizer 'dolmaa'", "did you mean 'dolma2'?"
    )


def test_path_rows_carry_a_one_path_leaf_s_count_from_priors(tmp_path: Path) -> None:
    """With --priors, a leaf of one path gives that path its tokens in the CSV rows."""
    config = write_config(tmp_path, _flat(web=1, wiki=1))
    priors = write_config(tmp_path, {"token_counts": {"web": 30, "wiki": 10}}, "p.yaml")
    args = ["resolve", config, "--offline", "--priors", priors, "-f", "csv", "--allow-repetition"]
    code, out, _ = invoke(*args)
    assert code == 0
    rows = {line.split(",")[1]: line.split(",")[3] for line in out.splitlines()[1:]}
    assert rows == {"web": "30", "wiki": "10"}
