"""Hostile input, faulty networks and interrupts: bounded, survived, clean (issue 10)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, assert_one_error_line, closed_port, invoke, make_project
from s3lab import S3Lab

from qupsample.errors import SpecError, StorageError, UserError, redact, short_repr
from qupsample.resolve import load_config, resolve
from qupsample.storage import count_tokens, split_budget
from qupsample.yamlfiles import MAX_FILE_BYTES_ENV, parse_yaml

BUCKET = "qupsample-faults"
FOLDERS = [f"topic_{t}/vigintile_{v:04d}" for t in range(3) for v in (17, 18, 20)]
PARTS = 2
# Small backoff so retried faults cost milliseconds; the rest of the budget as shipped.
FAST = {"backoff_base": 0.01}


def _bomb(levels: int, field: str = "description") -> str:
    """A billion-laughs document: `levels` anchors of 10 aliases each, used in `field`."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels):
        aliases = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + f"\n{field}: *a{levels - 1}\n"


def _config(paths: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "name": "hardening",
        "proxy_model_id": "olmo3_14m",
        "tokenizer": "dolma2",
        **fields,
        "sources": [{"name": "web", "weight": 1, "paths": paths}],
    }


# Runs `qupsample ARGS`, writing the process's own peak RSS (kB) to a file at exit:
# a child's ru_maxrss would include pytest's, carried across fork and exec.
PEAK_RUNNER = """
import atexit, runpy, sys
out = sys.argv[1]

def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    with open(out, "w") as handle:
        handle.write(peak)

atexit.register(report)
sys.argv = ["qupsample", *sys.argv[2:]]
runpy.run_module("qupsample", run_name="__main__")
"""


def _run_bounded(args: list[str], peak_file: Path) -> tuple[int, str, float, int]:
    """Run `qupsample ARGS` in a process; exit code, stderr, seconds and peak memory (MiB)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RUNNER, str(peak_file), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    peak_mib = int(peak_file.read_text()) // 1024
    return result.returncode, result.stderr, time.monotonic() - started, peak_mib


# ------------------------------------------------------------- hostile YAML


def test_alias_bomb_in_a_config_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    """A 9-level alias bomb in a config's description: one line, exit 2, little time and memory."""
    config = tmp_path / "bomb.yaml"
    config.write_text(_bomb(9) + yaml.safe_dump(_config(["data/*.npy"])), encoding="utf-8")
    code, err, seconds, peak_mib = _run_bounded(
        ["resolve", str(config), "--offline"], tmp_path / "peak"
    )
    assert_one_error_line(code, "", err, "bomb.yaml", "aliases expand to more than 100,000")
    assert seconds < 30
    assert peak_mib < 300


def test_alias_bomb_in_a_profile_is_refused_by_every_command(tmp_path: Path) -> None:
    """The same bomb in a profile's description stops list, render and generate with one line."""
    profile = "schemes/profiles/heavy_code.yaml"
    original = (REPO / profile).read_text(encoding="utf-8")
    root = make_project(tmp_path, {profile: _bomb(9, "x-bomb") + original})
    for args in (["list"], ["render", "aggressive", "heavy_code"], ["generate", "--check"]):
        code, err, seconds, peak_mib = _run_bounded([*args, "--root", str(root)], tmp_path / "peak")
        assert_one_error_line(code, "", err, "profiles/heavy_code.yaml", "alias bomb")
        assert seconds < 30
        assert peak_mib < 300


def test_recursive_alias_and_deep_nesting_are_refused() -> None:
    """A self-containing alias or a document nested 200 levels deep is a one-line SpecError."""
    with pytest.raises(SpecError, match="recursive alias"):
        parse_yaml("a: &a [1, *a]\n", "x.yaml")
    with pytest.raises(SpecError, match="nested deeper than 100 levels"):
        parse_yaml("[" * 200 + "]" * 200, "x.yaml")
    assert parse_yaml("a: &a [1, 2]\nb: *a\n", "x.yaml") == {"a": [1, 2], "b": [1, 2]}


def test_validation_messages_show_input_values_short(tmp_path: Path) -> None:
    """A wrong type holding 90,000 items (aliases under the bound) gives a short line."""
    text = _bomb(5) + yaml.safe_dump(_config(["data/*.npy"]))
    config = tmp_path / "wide.yaml"
    config.write_text(text, encoding="utf-8")
    code, out, err = invoke("resolve", str(config), "--offline")
    line = assert_one_error_line(code, out, err, "wide.yaml: description:")
    assert len(line) < 300
    huge_key = "k" * 100_000
    with pytest.raises(SpecError) as raised:
        load_config({**_config([]), "sources": [{"name": "w", "paths": ["a"], huge_key: 1}]})
    assert len(str(raised.value)) < 400
    assert short_repr(10**5000) == "<an int of about 5001 digits>"


def test_file_size_limit_is_clear_and_can_be_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config over $QUPSAMPLE_MAX_FILE_BYTES is refused in one line naming the variable."""
    config = tmp_path / "big.yaml"
    config.write_text(yaml.safe_dump(_config([f"d/{i}/*.npy" for i in range(100)])))
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, "1000")
    code, out, err = invoke("resolve", str(config), "--offline")
    assert_one_error_line(code, out, err, "big.yaml", "larger than", MAX_FILE_BYTES_ENV)
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, "lots")
    code, out, err = invoke("resolve", str(config), "--offline")
    assert_one_error_line(code, out, err, MAX_FILE_BYTES_ENV, "must be a positive int")
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, str(10**7))
    assert len(load_config(config).experiment.sources[0].paths or []) == 100


def _wide_config(paths: list[str]) -> str:
    """A config of one source over `paths`, as YAML text (quicker than yaml.safe_dump)."""
    lines = "".join(f"  - {path}\n" for path in paths)
    return f"name: wide\nsources:\n- name: web\n  weight: 1\n  paths:\n{lines}"


def test_40k_path_config_loads_and_names_a_repeated_path(tmp_path: Path) -> None:
    """40,000 paths in one leaf load; a repeated one among them is named."""
    paths = [f"s3://bucket/part/{i:06d}/*.npy" for i in range(40_000)]
    config = tmp_path / "wide.yaml"
    config.write_text(_wide_config(paths), encoding="utf-8")
    assert len(load_config(config).experiment.sources[0].paths or []) == 40_000
    config.write_text(_wide_config([*paths, paths[12_345]]), encoding="utf-8")
    with pytest.raises(
        SpecError, match=re.escape("'s3://bucket/part/012345/*.npy' is listed twice")
    ):
        load_config(config)


# ------------------------------------------------------------------ secrets


def test_redact_hides_user_info_and_http_queries_but_not_glob_wildcards() -> None:
    """URL passwords and tokens never print; `?` in an s3:// glob is kept."""
    text = "http://user:pw@127.0.0.1:9/?t=tok and s3://b/part-000?.npy"
    assert redact(text) == "http://***@127.0.0.1:9/?*** and s3://b/part-000?.npy"
    assert str(UserError(f"x: {text}")) == f"x: {redact(text)}"


@pytest.mark.s3
def test_endpoint_url_with_credentials_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials in an endpoint URL (flag or AWS_ENDPOINT_URL) are refused, never printed."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(_config([f"s3://{BUCKET}/x/*.npy"])))
    secret_url = "http://user:hunter2@127.0.0.1:99999/?t=sekrit-token"
    code, out, err = invoke("resolve", str(config), "--no-cache", "--endpoint-url", secret_url)
    line = assert_one_error_line(
        code, out, err, "carries credentials", "AWS_ACCESS_KEY_ID", "--profile"
    )
    assert "hunter2" not in line and "sekrit" not in line and "user:" not in line
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/?X-Amz-Security-Token=sekrit")
    code, out, err = invoke("resolve", str(config), "--no-cache")
    line = assert_one_error_line(code, out, err, "carries credentials")
    assert "sekrit" not in line


# ------------------------------------------------------------ flaky storage


@pytest.fixture
def lab(s3: S3Lab) -> Iterator[S3Lab]:
    """FOLDERS x PARTS `.npy` objects in BUCKET; the proxy's trickle pace restored after."""
    s3.fill(
        BUCKET,
        {
            f"{f}/part-{p}.npy": 4 * (1 + p + 10 * i)
            for i, f in enumerate(FOLDERS)
            for p in range(PARTS)
        },
    )
    s3.proxy.reset()
    try:
        yield s3
    finally:
        s3.proxy.trickle_s = 0.5


def _globs() -> list[str]:
    return [f"s3://{BUCKET}/{folder}/*.npy" for folder in FOLDERS]


def _expected() -> dict[str, int]:
    return {glob: sum(1 + p + 10 * i for p in range(PARTS)) for i, glob in enumerate(_globs())}


def _count(lab: S3Lab, **budget: Any) -> dict[str, int]:
    options = {**lab.storage_options, **FAST, **budget}
    counts = count_tokens(_globs(), token_size=4, storage_options=options)
    return {glob: count.tokens for glob, count in counts.items()}


def _failure(lab: S3Lab, **budget: Any) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(StorageError) as raised:
        _count(lab, **budget)
    message = str(raised.value)
    assert "\n" not in message
    return message, time.monotonic() - started


@pytest.mark.s3
@pytest.mark.parametrize(
    "fault", ["slowdown", "error500", "error502", "error504", "reset", "truncate"]
)
def test_thirty_percent_faults_still_give_exact_counts(lab: S3Lab, fault: str) -> None:
    """With 30% of listings failing (throttled, 5xx, reset, cut off), every count is exact."""
    for seed in range(2):
        lab.proxy.clear_faults()
        lab.proxy.inject(fault, rate=0.3, seed=seed)
        assert _count(lab) == _expected()
        assert lab.proxy.injected()[fault] > 0


@pytest.mark.s3
@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        ("slowdown", "throttled by S3 (SlowDown) after 4 attempts while listing s3://"),
        ("error500", "S3 answered 500 (InternalError) after 4 attempts"),
        ("error504", "S3 answered 504 (InternalError) after 4 attempts"),
        ("reset", "connection reset by http://127.0.0.1:"),
        ("truncate", "incomplete listing of s3://"),
    ],
)
def test_constant_faults_give_one_line_naming_the_cause(
    lab: S3Lab, fault: str, fragment: str
) -> None:
    """At 100% faults the budget runs out quickly and one line names the cause."""
    lab.proxy.inject(fault, rate=1.0)
    message, seconds = _failure(lab, max_attempts=4)
    assert fragment in message
    assert 'storage_options={"max_attempts": N}' in message
    assert seconds < 20


@pytest.mark.s3
def test_throttling_budget_is_the_attempts_asked_for(lab: S3Lab) -> None:
    """max_attempts is the number of requests per listing; the flag sets it too."""
    lab.proxy.inject("slowdown", rate=1.0)
    message, _ = _failure(lab, max_attempts=2)
    assert "after 2 attempts" in message
    listings = lab.proxy.counts()["ListObjectsV2"]
    assert listings % 2 == 0 and listings <= 2 * len(FOLDERS)
    config = lab_config_file(lab)
    code, out, err = invoke(
        "resolve", config, "--no-cache", "--endpoint-url", lab.proxy.url, "--max-attempts", "1"
    )
    assert_one_error_line(code, out, err, "throttled by S3 (SlowDown) after 1 attempts")


def lab_config_file(lab: S3Lab) -> str:
    path = Path(os.environ["QUPSAMPLE_CACHE_DIR"]).parent / "lab-config.yaml"
    path.write_text(yaml.safe_dump(_config(_globs())), encoding="utf-8")
    return str(path)


@pytest.mark.s3
def test_refused_connection_fails_in_seconds_with_a_big_budget() -> None:
    """A closed port is retried without waiting, so even 10 attempts fail in seconds."""
    options = {"endpoint_url": f"http://127.0.0.1:{closed_port()}", "max_attempts": 10}
    started = time.monotonic()
    with pytest.raises(StorageError, match="cannot reach"):
        count_tokens([f"s3://{BUCKET}/a/*.npy"], token_size=4, storage_options=options)
    assert time.monotonic() - started < 10


def test_budget_values_are_checked() -> None:
    """max_attempts, deadline and backoff_base out of range are user errors, not passed on."""
    budget, rest = split_budget({"max_attempts": 3, "deadline": 2, "anon": True})
    assert (budget.max_attempts, budget.deadline_s, rest) == (3, 2.0, {"anon": True})
    for bad in ({"max_attempts": 0}, {"max_attempts": True}, {"deadline": 0}, {"backoff_base": -1}):
        with pytest.raises(UserError, match=next(iter(bad))):
            split_budget(bad)


# ---------------------------------------------------------------- deadlines


@pytest.mark.s3
def test_trickling_endpoint_hits_the_deadline_naming_the_folder(lab: S3Lab) -> None:
    """An endpoint that trickles a byte at a time never times out a read; the deadline ends it."""
    lab.proxy.trickle_s = 0.2
    lab.proxy.inject("trickle", rate=1.0)
    message, seconds = _failure(lab, deadline=1.5)
    assert f"still listing s3://{BUCKET}/{FOLDERS[0]}/ when the 1.5 s deadline expired" in message
    assert 'storage_options={"deadline": SECONDS}' in message
    assert "one request per 1,000 objects" in message  # why a big folder needs more
    assert seconds < 10
    config = lab_config_file(lab)
    code, out, err = invoke(
        "resolve", config, "--no-cache", "--endpoint-url", lab.proxy.url, "--deadline", "1"
    )
    assert_one_error_line(code, out, err, "when the 1 s deadline expired")


def _interrupt(args: list[str], ready: Any, timeout: float = 30) -> tuple[int, str, float]:
    """Start `python -m qupsample ARGS`, send SIGINT once `ready()` holds; rc, stderr, delay."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qupsample", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    limit = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < limit:
        time.sleep(0.02)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    return process.returncode, err, time.monotonic() - sent


@pytest.mark.s3
def test_ctrl_c_while_listing_exits_130_at_once(lab: S3Lab) -> None:
    """Ctrl-C with listings in flight on a trickling endpoint: `interrupted`, 130, in ~1 s."""
    lab.proxy.trickle_s = 0.5
    lab.proxy.inject("trickle", rate=1.0)
    config = lab_config_file(lab)
    for _ in range(3):
        lab.proxy.reset()
        code, err, seconds = _interrupt(
            ["resolve", config, "--no-cache", "--endpoint-url", lab.proxy.url],
            lambda: lab.proxy.counts().get("ListObjectsV2", 0) >= len(FOLDERS),
        )
        assert (code, err) == (130, "interrupted\n")
        assert seconds < 3


def _after(seconds: float) -> Any:
    """A `ready` predicate that holds `seconds` from now."""
    until = time.monotonic() + seconds
    return lambda: time.monotonic() > until


def test_ctrl_c_during_generate_leaves_old_or_new_files_and_no_temporaries(
    tmp_path: Path,
) -> None:
    """Interrupted at random moments, generate exits 0 or 130 and leaves no partial files."""
    root = make_project(tmp_path, with_generated=True)
    out = root / "generated"
    new = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    stale = sorted(new)[::3]
    rng = random.Random(10)
    interrupted = 0
    for _ in range(6):
        for name in stale:
            (out / name).write_bytes(b"old\n")
        code, err, seconds = _interrupt(
            ["generate", "--root", str(root)], _after(rng.uniform(0.2, 0.8))
        )
        assert code in (0, 130), err
        if code == 130:
            interrupted += 1
            assert err.endswith("interrupted\n") and "Traceback" not in err
            assert seconds < 3
        assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
        for name, data in new.items():
            assert (out / name).read_bytes() in (data, b"old\n"), name
    assert interrupted > 0
    code, _, _ = invoke("generate", "--root", str(root))
    assert code == 0
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == new


# Ctrl-C raises KeyboardInterrupt in the writer even when the test runner was started
# with SIGINT ignored (a background job), which its children would inherit.
WRITER = """
import signal, sys
from pathlib import Path
from qupsample.files import replace_atomically
signal.signal(signal.SIGINT, signal.default_int_handler)
target = Path(sys.argv[1])
print("ready", flush=True)
while True:
    replace_atomically(target, "x" * 4096)
"""


def test_interrupted_atomic_writes_never_leave_a_temporary_file(tmp_path: Path) -> None:
    """Ctrl-C at random points of a write loop leaves the whole file and nothing else."""
    rng = random.Random(6)
    for _ in range(12):
        with subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path / "out.txt")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ) as process:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
            time.sleep(rng.uniform(0.0, 0.05))
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
        assert (tmp_path / "out.txt").read_text() == "x" * 4096


# -------------------------------------------------------------------- cache


def _local_config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir(parents=True)
    (data / "part-0.npy").write_bytes(bytes(40))
    config = tmp_path / "local.yaml"
    config.write_text(yaml.safe_dump(_config([f"{data}/*.npy"])), encoding="utf-8")
    return config


def test_cache_dir_variable_naming_a_file_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$QUPSAMPLE_CACHE_DIR naming a file: one warning saying the cache is off and why."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("QUPSAMPLE_CACHE_DIR", str(blocker))
    config = str(_local_config(tmp_path))
    code, _, err = invoke("resolve", config, "--format", "json", "--training-tokens", "10")
    assert code == 0, err
    [line] = err.splitlines()
    assert line.startswith("warning: cannot write the token-count cache")
    assert "it is a file, not a folder" in line and "not cached" in line
    assert blocker.read_text() == "x"


def test_cache_dir_flag_naming_a_file_is_one_line(tmp_path: Path) -> None:
    """--cache-dir FILE is a one-line user error, exit 2."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, out, err = invoke("resolve", str(_local_config(tmp_path)), "--cache-dir", str(blocker))
    assert_one_error_line(code, out, err, "--cache-dir", "is not a folder")
    mix = resolve(_local_config(tmp_path / "again"), cache_dir=tmp_path / "cache")
    assert mix.paths[0].tokens == 10


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x\nsources: [{name: a, weight: " + "9" * 5000 + ", paths: [p]}]\n", "4300 digits"),
        ("? [a, b]\n: 1\n", "unhashable type"),
        (
            "name: x\ndata: {sources: [{name: a, weight: 1, paths: [p]}]}\n"
            "swarm: {minimum_weight: 1.0e+301, seed: 1}\nmax_tokens: 100\n",
            "swarm.minimum_weight: must be at most 1e+300",
        ),
    ],
)
def test_values_no_python_can_take_are_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    """A 5000-digit number, a list as a key, an absurd swarm weight: exit 2, one line."""
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = invoke("resolve", str(path), "--offline")
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and fragment in err
    assert len(err) < 400


def test_priors_mapping_with_an_absurd_count_is_one_line() -> None:
    """priors={'leaf': 10**5000} from Python is a UserError with a short view of the value."""
    from qupsample.errors import UserError
    from qupsample.resolve import resolve

    config = REPO / "generated" / "quality_upsampling" / "heavy_code" / "aggressive.yaml"
    with pytest.raises(UserError, match=r"priors: token_counts\.a: .*about 5001 digits"):
        resolve(config, offline=True, priors={"a": 10**5000})


# ------------------------------------------ second round (issue 16): deep nesting


def _deep(style: str, levels: int) -> str:
    """A document nested `levels` deep: flow lists, flow mappings, block lists or mappings."""
    if style == "flow-list":
        return "[" * levels + "]" * levels + "\n"
    if style == "flow-map":
        return "{a: " * levels + "1" + "}" * levels + "\n"
    if style == "block-list":
        return "".join(" " * i + "-\n" for i in range(levels)) + " " * levels + "- 1\n"
    return "".join(" " * i + "a:\n" for i in range(levels)) + " " * levels + "a: 1\n"


DEEP_STYLES = ["flow-list", "flow-map", "block-list", "block-map"]


@pytest.mark.parametrize("style", DEEP_STYLES)
@pytest.mark.parametrize("levels", [101, 1_000, 5_000])
def test_deep_nesting_is_one_line_whatever_the_depth_and_style(style: str, levels: int) -> None:
    """Nested 101 to 5,000 levels, flow or block: a SpecError, never a RecursionError."""
    with pytest.raises(SpecError) as raised:
        parse_yaml(_deep(style, levels), "deep.yaml")
    assert str(raised.value).startswith("deep.yaml")
    assert len(str(raised.value)) < 200
    assert parse_yaml(_deep(style, 99), "ok.yaml") is not None


def test_deep_nesting_in_every_input_is_refused_by_the_cli(tmp_path: Path) -> None:
    """A config, a spec, a priors file and a --set value nested 5,000 levels: exit 2, one line."""
    deep = _deep("flow-list", 5_000)
    config = tmp_path / "deep.yaml"
    config.write_text(deep, encoding="utf-8")
    code, out, err = invoke("resolve", config, "--offline")
    assert_one_error_line(code, out, err, "deep.yaml")
    root = make_project(tmp_path, {"schemes/profiles/heavy_code.yaml": f"x: {deep}"})
    code, out, err = invoke("render", "aggressive", "heavy_code", "--root", root)
    assert_one_error_line(code, out, err, "heavy_code.yaml")
    flat = REPO / "generated" / "quality_upsampling" / "heavy_code" / "aggressive.yaml"
    code, out, err = invoke("resolve", flat, "--offline", "--priors", config)
    assert_one_error_line(code, out, err, "deep.yaml")
    code, out, err = invoke("render", "aggressive", "heavy_code", "--set", f"seed={deep}")
    assert_one_error_line(code, out, err, "--set", "seed")


def test_deep_nesting_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """A 20 MB document of nothing but `[` is refused without parsing it all."""
    config = tmp_path / "deep.yaml"
    config.write_text("[" * 20_000_000, encoding="utf-8")
    code, err, _, peak_mib = _run_bounded(["resolve", str(config), "--offline"], tmp_path / "peak")
    assert_one_error_line(code, "", err, "deep.yaml")
    assert peak_mib < 300


# --------------------------------- second round (issue 16): short lines, linear time

LAUNCH_CONFIG = REPO / "generated" / "quality_upsampling_launch" / "heavy_code" / "aggressive.yaml"
REDACT_LONG_RUNS = """
from qupsample.errors import UserError, redact
for text in ("a." * 200_000, "http://" * 60_000, "http://a" * 50_000 + "?q", "a:" * 200_000):
    assert len(str(UserError(text))) <= 1000
    assert len(redact(text)) >= len(text) - 8
"""


def test_redaction_is_linear_on_long_runs_of_letters_digits_and_dots() -> None:
    """Runs of 400,000 characters are redacted within a subprocess timeout (was quadratic)."""
    subprocess.run([sys.executable, "-c", REDACT_LONG_RUNS], check=True, timeout=60)
    assert redact("a.b http://u:p@h/x?t=1 https://h/y?z http://h#f?g") == (
        "a.b http://***@h/x?*** https://h/y?*** http://h#f?g"
    )


def test_flat_mix_key_of_10k_parts_is_a_short_line(tmp_path: Path) -> None:
    """A mix key of 10,000 parts: one line under 300 characters, cut in the middle."""
    config = yaml.safe_load(LAUNCH_CONFIG.read_text(encoding="utf-8"))
    config["mix"] = {":".join(f"p{i}" for i in range(10_000)): 1}
    path = tmp_path / "mixkey.yaml"
    path.write_text(yaml.safe_dump(config, width=10**9), encoding="utf-8")
    code, out, err = invoke("resolve", path, "--offline")
    line = assert_one_error_line(code, out, err, "mixkey.yaml: mix.p0.p1.", ".p9999: nested deeper")
    assert len(line) < 300 and "..." in line


def test_long_where_and_field_are_cut_in_the_middle() -> None:
    """`located` keeps both ends of a long file name and field path."""
    from qupsample.errors import located

    message = located("d/" * 5_000 + "c.yaml", "f." * 5_000 + "x", "bad", "fix it")
    assert len(message) < 400
    assert message.startswith("d/d/") and "c.yaml: f.f." in message
    assert message.endswith("f.x: bad — fix it")


# ------------------------------- second round (issue 16): outputs never lose a file

FLAT_CONFIG = REPO / "generated" / "quality_upsampling" / "heavy_code" / "aggressive.yaml"
FAMILY_DIR = "quality_upsampling"


def _local_inclusion_config(tmp_path: Path) -> Path:
    """A config of two weightless sources over local objects (priors lists them)."""
    for name, size in (("a", 40), ("b", 80)):
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "part-0.npy").write_bytes(bytes(size))
    config = {
        "name": "local",
        "proxy_model_id": "olmo3_14m",
        "tokenizer": "dolma2",
        "sources": [
            {"name": name, "paths": [f"{tmp_path / 'data' / name}/*.npy"]} for name in "ab"
        ],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_no_command_overwrites_its_own_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """priors -o, render -o, generate --out, convert -o onto an input: exit 2, both named."""
    config = _local_inclusion_config(tmp_path)
    (tmp_path / "sub").mkdir()
    os.link(config, tmp_path / "hard.yaml")
    monkeypatch.chdir(tmp_path)
    before = config.read_bytes()
    for target in ("c.yaml", "./c.yaml", "sub/../c.yaml", "hard.yaml"):
        code, out, err = invoke("priors", "c.yaml", "--no-cache", "-o", target)
        assert_one_error_line(code, out, err, f"{Path(target)}: is the input c.yaml", "another")
        code, out, err = invoke("convert", "c.yaml", "--to", "flat", "--no-cache", "-o", target)
        assert_one_error_line(code, out, err, f"{Path(target)}: is the input c.yaml")
    assert config.read_bytes() == before
    root = make_project(tmp_path)
    profile = root / "schemes" / "profiles" / "heavy_code.yaml"
    spec = profile.read_bytes()
    code, out, err = invoke("render", "aggressive", "heavy_code", "--root", root, "-o", profile)
    assert_one_error_line(code, out, err, f"{profile}: is the input {profile}")
    linked = tmp_path / "out" / FAMILY_DIR / "heavy_code" / "aggressive.yaml"
    linked.parent.mkdir(parents=True)
    os.link(profile, linked)  # the spec under another name, where generate writes
    code, out, err = invoke("generate", "--root", root, "--out", tmp_path / "out")
    assert_one_error_line(code, out, err, f"{linked}: is the input {profile}")
    assert profile.read_bytes() == spec
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == [linked.name]


def test_output_to_a_fifo_or_a_device_writes_into_it(tmp_path: Path) -> None:
    """render -o FIFO feeds the reader; -o /dev/null stays a device; a folder is refused."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # A reader that never blocks: the config (8 kB) fits the pipe's buffer.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        code, out, err = invoke("render", "aggressive", "heavy_code", "-o", fifo)
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert (code, out, err) == (0, "", "")
    assert received.decode().startswith("# quality-upsampling-aggressive-heavy-code\n")
    assert fifo.is_fifo()
    assert invoke("render", "aggressive", "heavy_code", "-o", os.devnull).code == 0
    assert Path(os.devnull).is_char_device()
    code, out, err = invoke("render", "aggressive", "heavy_code", "-o", tmp_path)
    assert_one_error_line(code, out, err, f"{tmp_path}: is a folder; it is never replaced")


def test_output_to_a_symlink_writes_its_target(tmp_path: Path) -> None:
    """-o LINK follows the link on purpose: the target is updated and the link stays."""
    target = tmp_path / "real.yaml"
    target.write_text("old\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    code, out, err = invoke("render", "aggressive", "heavy_code", "-o", link)
    assert (code, out, err) == (0, "", "")
    assert link.is_symlink() and target.read_text().startswith("# quality-upsampling-")
    to_input = tmp_path / "to-input.yaml"
    to_input.symlink_to(FLAT_CONFIG)
    code, out, err = invoke("convert", FLAT_CONFIG, "-o", to_input)
    assert_one_error_line(code, out, err, f"{to_input}: is the input {FLAT_CONFIG}")
    help_text = invoke("render", "--help").out
    assert "symbolic link is followed" in " ".join(help_text.split())


def test_generate_never_replaces_a_link_or_a_special_file(tmp_path: Path) -> None:
    """A generated file's path holding a symlink or a FIFO: exit 2, both left as they were."""
    out = tmp_path / "out"
    root = make_project(tmp_path)
    assert invoke("generate", "--root", root, "--out", out).code == 0
    config = out / FAMILY_DIR / "heavy_code" / "aggressive.yaml"
    config.unlink()
    os.mkfifo(config)
    # In a process with a timeout: reading the FIFO to compare it would block for good.
    result = subprocess.run(
        [sys.executable, "-m", "qupsample", "generate", "--root", str(root), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_one_error_line(
        result.returncode, result.stdout, result.stderr, f"{config}: is a FIFO; it is never"
    )
    assert config.is_fifo()


# ------------------------------- second round (issue 16): a poisoned cache heals


def _entry_files(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "v1").iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: entry.write_text("[" * 100_000 + "]" * 100_000),
        lambda entry: entry.write_text('{"a": ' * 50_000 + "1" + "}" * 50_000),
        lambda entry: entry.write_bytes(b" " * (2 << 20)),
        lambda entry: (entry.unlink(), entry.mkdir()),
        lambda entry: (entry.unlink(), entry.mkdir(), (entry / "x").write_text("x")),
    ],
    ids=["deep-list", "deep-object", "huge", "empty-folder", "folder-with-a-file"],
)
def test_damaged_cache_entry_warns_once_and_is_replaced(tmp_path: Path, damage: Any) -> None:
    """Deep JSON, a huge file, a folder in the entry's place: one warning, then healed."""
    config = str(_local_config(tmp_path))
    cache = tmp_path / "cache"
    args = ("resolve", config, "--format", "json", "--training-tokens", "10", "--cache-dir", cache)
    first = invoke(*args)
    assert first.code == 0, first.err
    [entry] = _entry_files(cache)
    damage(entry)
    code, out, err = invoke(*args)
    assert (code, out) == (0, first.out), err
    [line] = err.splitlines()
    assert line.startswith("warning: 1 damaged token-count cache entr")
    assert "replaced" in line and "--cache-dir" not in line
    assert entry.is_file() and _entry_files(cache) == [entry]
    assert invoke(*args) == (0, first.out, "")


# ------------------------------- second round (issue 16): scale

PRIORS_KEY = "all_dressed:science_math_and_technology:vigintile_{:07d}: 123456789\n"


def test_huge_priors_file_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A priors file of 200,000 keys (over 4 MiB) is one line naming the way out."""
    priors = tmp_path / "priors.yaml"
    lines = "".join("    " + PRIORS_KEY.format(i) for i in range(200_000))
    priors.write_text("priors:\n  token_counts:\n" + lines, encoding="utf-8")
    code, out, err = invoke("resolve", FLAT_CONFIG, "--offline", "--priors", priors)
    assert_one_error_line(
        code, out, err, "priors.yaml: is larger than 4 MiB", "qupsample priors CONFIG -o FILE"
    )
    assert MAX_FILE_BYTES_ENV in err
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, str(64 << 20))
    assert invoke("resolve", FLAT_CONFIG, "--offline", "--priors", priors).code == 0


def test_empty_objects_are_warned_about_once_per_leaf_by_priors_and_resolve(
    tmp_path: Path,
) -> None:
    """A leaf of only 0-byte objects: priors and resolve say the same one line, cold or warm."""
    config = _local_inclusion_config(tmp_path)
    for part in (tmp_path / "data" / "a").iterdir():
        part.write_bytes(b"")
    (tmp_path / "data" / "a" / "part-1.npy").write_bytes(b"")
    cache = ("--cache-dir", tmp_path / "cache")
    expected = (
        f"warning: {config}: leaf a: its 2 object(s) are all empty (0 bytes): 0 tokens"
        " — check the paths; a leaf of 0 tokens cannot have a positive weight\n"
    )
    for _ in ("cold", "warm"):
        code, out, err = invoke("priors", config, *cache)
        assert (code, err) == (0, expected)
        assert yaml.safe_load(out)["priors"]["token_counts"] == {"a": 0, "b": 20}
        code, out, err = invoke("resolve", config, "--training-tokens", "10", "-f", "json", *cache)
        assert (code, err) == (0, expected)
        assert [leaf["tokens"] for leaf in json.loads(out)["leaves"]] == [0, 20]
