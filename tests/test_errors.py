"""Tests for qupsample.errors: hints name only options that exist where they are shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO, invoke

from qupsample.counts import Counting
from qupsample.errors import Hint, UserError
from qupsample.resolve import mix_tree
from qupsample.specs import open_project

THRESHOLD = REPO / "generated" / "quality_thresholds" / "heavy_code" / "top10pct.yaml"


def test_hint_renders_for_python_and_for_commands_that_have_the_option() -> None:
    """The API form from Python; the flag only where the command has it; else nothing."""
    error = UserError(
        "broken",
        Hint("pass {}", "--anon", 'storage_options={"anon": True}'),
        Hint("or {}", "--allow-repetition"),
        where="x",
        fix="fix it",
    )
    assert str(error) == 'x: broken — fix it; pass storage_options={"anon": True}'
    assert error.render({"--anon", "--allow-repetition"}) == (
        "x: broken — fix it; pass --anon; or --allow-repetition"
    )
    assert error.render({"--offline"}) == "x: broken — fix it"
    assert UserError("bad", Hint("pass {}", "--out DIR", 'out="DIR"'), where="y").render(
        {"--out"}
    ) == ("y: bad — pass --out DIR")


def test_errors_are_data_and_context_is_added_without_editing_text() -> None:
    """where / field / what / fix are fields; `within` and `with_hints` add context, and
    the one line is formatted from the fields in one place."""
    error = UserError("must be >= 0, got -5", where="s.yaml", field="buckets.top", fix="fix it")
    assert (error.where, error.field, error.what, error.fix) == (
        "s.yaml",
        "buckets.top",
        "must be >= 0, got -5",
        "fix it",
    )
    assert str(error) == "s.yaml: buckets.top: must be >= 0, got -5 — fix it"
    inside = error.within("config.yaml")
    assert type(inside) is UserError and inside.what == error.what
    assert str(inside) == "config.yaml: s.yaml: buckets.top: must be >= 0, got -5 — fix it"
    assert str(error.within("s.yaml")) == str(error)  # already there: said once
    hinted = error.with_hints(Hint("or pass {}", "--offline", "offline=True"))
    assert str(hinted).endswith("— fix it; or pass offline=True")
    assert str(error) == "s.yaml: buckets.top: must be >= 0, got -5 — fix it"  # unchanged
    secret = UserError("cannot reach", where="https://u:pw@host/x?token=abc")
    assert "pw" not in str(secret) and "abc" not in str(secret)


def test_library_errors_name_api_parameters_not_flags() -> None:
    """From Python, a config needing counts names priors= and offline=, never a flag."""
    with pytest.raises(UserError) as caught:
        mix_tree(THRESHOLD, open_project(REPO), counting=Counting(offline=True))
    message = str(caught.value)
    assert 'priors="priors.yaml"' in message and "offline=True" in message
    assert "--" not in message.replace("qupsample priors CONFIG -o", "")


@pytest.mark.parametrize(
    ("command", "shown", "hidden"),
    [
        (["resolve", "x:y"], [], ["--family"]),
        (["render", "top10pct", "heavy_code", "--template", "olmix-launch", "--offline"],
         ["--priors priors.yaml", "drop --offline"], []),
        (["convert", str(THRESHOLD), "--offline"], ["--priors priors.yaml", "drop --offline"], []),
        (["diff", str(THRESHOLD), str(THRESHOLD), "--offline"],
         ["pass --priors FILE", "drop --offline"], []),
    ],
)  # fmt: skip
def test_cli_errors_name_only_the_commands_options(
    command: list[str], shown: list[str], hidden: list[str]
) -> None:
    """Each command's error line offers that command's own options."""
    code, out, err = invoke(*command, "--root", str(REPO))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    for text in shown:
        assert text in err
    for text in hidden:
        assert text not in err


def test_plot_errors_name_the_pair_not_render(tmp_path: Path) -> None:
    """A mistyped pair given to plot is named as the pair, not as `render`."""
    code, _, err = invoke("plot", "aggresive:heavy_code", "-o", str(tmp_path / "x.png"))
    assert code == 2
    assert err.startswith("error: aggresive:heavy_code: scheme 'aggresive': not found")
    assert "render" not in err


def test_bare_word_config_hints_at_scheme_profile() -> None:
    """`resolve steep` (no file, no colon) says what a config argument can be."""
    code, _, err = invoke("resolve", "steep")
    assert code == 2
    assert err == (
        "error: steep: file not found — pass a config file, or SCHEME:PROFILE"
        " (e.g. aggressive:heavy_code)\n"
    )


def test_no_credentials_from_the_cli_offers_the_commands_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """resolve without credentials offers --anon, --offline and the demo; plot the same."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    config = REPO / "generated" / "quality_thresholds" / "heavy_code" / "top10pct.yaml"
    code, _, err = invoke("resolve", str(config), "--no-cache", "--max-attempts", "1")
    assert code == 2 and err.count("\n") == 1
    assert "pass --anon for a public bucket" in err
    assert "--offline" in err and "qupsample demo" in err
    assert "storage_options" not in err


def test_unreachable_endpoint_names_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint that refuses connections points to --endpoint-url."""
    from helpers import closed_port

    config = REPO / "generated" / "quality_thresholds" / "heavy_code" / "top10pct.yaml"
    code, _, err = invoke(
        "priors", str(config), "--no-cache", "--endpoint-url", f"http://127.0.0.1:{closed_port()}"
    )
    assert code == 2 and err.count("\n") == 1
    assert "cannot reach" in err and "--endpoint-url URL" in err
