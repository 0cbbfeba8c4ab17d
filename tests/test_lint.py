"""Tests for `qupsample lint`: every rule's bad and good example (docs/lint.md) at its
line, the generated configs clean, agreement with `resolve --strict`, and the command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO, invoke
from lintdocs import DOC, Example, examples, merged

from qupsample.lint import lint, lint_file
from qupsample.resolve import resolve
from qupsample.rules import FAMILIES, RULES
from qupsample.specs import open_project

EXAMPLES = examples()
PROJECT = open_project(REPO)


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    """Writes one config file and returns its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.code}-{e.kind}")
def test_each_rule_has_its_finding_at_its_line(example: Example, tmp_path: Path) -> None:
    """A bad example has its finding at the line marked `# <- CODE` (else line 1); the
    good one does not have it."""
    path = tmp_path / "config.yaml"
    path.write_bytes(example.data)
    lines = [f.line for f in lint_file(path, PROJECT) if f.code == example.code]
    if example.kind == "bad":
        assert lines == [example.line or 1]
    else:
        assert lines == []


def test_every_rule_is_documented_with_a_bad_and_a_good_example() -> None:
    """docs/lint.md has one section per code, in families, each with both examples."""
    kinds = {(e.code, e.kind) for e in EXAMPLES}
    assert kinds == {(code, kind) for code in RULES for kind in ("bad", "good")}
    text = DOC.read_text(encoding="utf-8")
    for code, rule in RULES.items():
        assert f"### {code} {rule.name}\n" in text
    assert {code[0] for code in RULES} == set(FAMILIES)


def test_good_examples_are_clean_of_every_rule(tmp_path: Path) -> None:
    """Each good example has no finding at all (not only none of its own rule)."""
    for example in EXAMPLES:
        if example.kind == "good" and example.code not in {"T003", "T006"}:
            path = tmp_path / f"{example.code}.yaml"
            path.write_bytes(example.data)
            assert lint_file(path, PROJECT) == [], example.code


def test_generated_configs_lint_clean() -> None:
    """The 8 launch configs and the 24 plan-era ones have no finding."""
    folders = ["quality_upsampling_launch", "quality_upsampling", "quality_thresholds"]
    result = lint([REPO / "generated" / f for f in folders], root=REPO)
    assert (result.files, result.findings) == (32, ())


PLANTED = merged(
    (DOC.read_text(encoding="utf-8").split("```yaml base\n")[1].split("```")[0]),
    """\
data:
  sources:
    - name: web
      quality:
        - {name: hi, paths: ["s3://b/allenai/dolma2-tokenizer/web/hi/*.npy"]}
        - {name: lo, max_repetition_factor: 2, paths: ["s3://b/allenai/dolma2-tokenizer/web/lo/*"]}
    - {name: wiki, paths: ["s3://b/allenai/dolma2-tokenizer/wiki/*.npy"]}
  dtype: uint16
mix:
  web: {weight: 0.9, hi: 0.7, lo: 0.7}
  wikipedia: 0.1
owner: me
""",
)


def test_resolve_strict_and_lint_agree(tmp_path: Path) -> None:
    """A config with several planted mistakes: lint reports exactly what resolve --strict
    prints, code for code and line for line."""
    path = write(tmp_path, PLANTED)
    findings = resolve(path, offline=True).findings
    codes = sorted(f.code for f in findings)
    assert codes == ["F005", "F006", "M001", "M003", "M004", "P002", "T004"]
    linted = lint([path], root=REPO).findings
    assert sorted((f.code, f.message, f.fix) for f in linted) == sorted(
        (f.code, f.message, f.fix) for f in findings
    )
    code, _, stderr = invoke("resolve", path, "--offline", "--strict", "-f", "json")
    assert code == 1
    warned = {line.removeprefix("warning: ") for line in stderr.splitlines()[:-1]}
    assert warned == {str(f) for f in findings}


def test_plan_era_configs_get_the_trainer_rules(tmp_path: Path) -> None:
    """A plan-era config with an unknown proxy model is T001 at its key (resolve exits 2)."""
    text = (REPO / "generated/quality_upsampling/heavy_code/gradual.yaml").read_text()
    path = write(tmp_path, text.replace("olmo3_14m", "olmo3_15m"))
    line = text.splitlines().index("proxy_model_id: olmo3_14m") + 1
    [finding] = lint([path], root=REPO).findings
    assert (finding.code, finding.line, finding.col) == ("T001", line, 1)
    assert finding.message == "proxy_model_id: unknown proxy model 'olmo3_15m'"
    assert invoke("resolve", path, "--offline").code == 2


# --- the command ------------------------------------------------------------------------


def planted_folder(tmp_path: Path) -> Path:
    """A folder with one clean config, two with mistakes, and YAML that is no config."""
    folder = tmp_path / "configs"
    (folder / "deep").mkdir(parents=True)
    base = next(e for e in EXAMPLES if e.code == "M003" and e.kind == "good").data.decode()
    write(folder, base, "clean.yaml")
    write(folder, base.replace("olmo3_14m", "olmo3_15m"), "b.yml")
    write(folder / "deep", base.replace("  wiki:", "  wikipedia:"), "a.yaml")
    write(folder, "- id: not-a-config\n", "hooks.yaml")
    (folder / ".hidden").mkdir()
    write(folder / ".hidden", "name: x\n", "skip.yaml")
    return folder


def test_text_output_is_sorted_by_path_and_line(tmp_path: Path) -> None:
    """One line per finding, `path:line:col: CODE message (fix)`, sorted; exit 1."""
    folder = planted_folder(tmp_path)
    code, stdout, stderr = invoke("lint", folder)
    assert code == 1
    lines = stdout.splitlines()
    codes = [line.split(": ")[1].split()[0] for line in lines]
    assert codes == ["T001", "M001", "M004", "M003"]
    assert lines[0].startswith(f"{folder}/b.yml:3:12: T001 training.proxy_model_id: unknown")
    assert lines[3] == (
        f"{folder}/deep/a.yaml:15:3: M003 mix: wikipedia names no data leaf (olmix ignores"
        " it; fix the name or add the data)"
    )
    # hooks.yaml is read, found to be no config, and skipped; .hidden/ is not searched.
    assert stderr == "4 finding(s) in 2 of 3 file(s); 1 skipped (no olmix config)\n"


def test_json_and_github_formats(tmp_path: Path) -> None:
    """json: objects with path, line, col, code, severity, message, fix; github:
    workflow annotations."""
    folder = planted_folder(tmp_path)
    code, stdout, _ = invoke("lint", folder, "--format", "json", "--select", "M003")
    assert code == 1
    assert json.loads(stdout) == [
        {
            "path": f"{folder}/deep/a.yaml",
            "line": 15,
            "col": 3,
            "code": "M003",
            "severity": "error",
            "message": "mix: wikipedia names no data leaf",
            "fix": "olmix ignores it; fix the name or add the data",
        }
    ]
    code, stdout, _ = invoke("lint", folder, "-f", "github", "--select", "M003")
    assert stdout == (
        f"::error file={folder}/deep/a.yaml,line=15,col=3,title=M003::mix: wikipedia names no"
        " data leaf (olmix ignores it; fix the name or add the data)\n"
    )


def test_select_and_ignore_by_code_or_family(tmp_path: Path) -> None:
    """--select and --ignore take codes and prefixes, repeated or comma-separated."""
    folder = planted_folder(tmp_path)
    assert invoke("lint", folder, "--select", "T").out.count("\n") == 1
    assert invoke("lint", folder, "--select", "M001,T").out.count("\n") == 2
    assert invoke("lint", folder, "--select", "M").out.count("\n") == 3
    code, stdout, stderr = invoke("lint", folder, "--ignore", "M", "--ignore", "t001")
    skipped = "3 file(s) checked: no findings; 1 skipped (no olmix config)\n"
    assert (code, stdout, stderr) == (0, "", skipped)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["missing.yaml"], "missing.yaml: no such file or folder"),
        (["--select", "X1"], "--select: no rule code starts with 'X1'"),
        (["--priors", "nope.yaml"], "nope.yaml: file not found"),
        (["--format", "xml"], "qupsample lint"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    args: list[str], fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing path, an unknown code or format, a missing priors file: one line, exit 2."""
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = invoke("lint", *args)
    assert (code, stdout) == (2, "")
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1
    assert fragment in stderr


def test_default_path_is_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PATH, the current folder is linted."""
    planted_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = invoke("lint")
    assert code == 1
    assert stdout.startswith("configs/b.yml:3:12: T001 ")


def test_a_named_non_config_and_an_unreadable_file_are_findings(tmp_path: Path) -> None:
    """A YAML file named on the command line that is no config is F003; a file that
    cannot be read (not UTF-8, or a folder's link to nowhere) is F001."""
    hooks = write(tmp_path, "- id: x\n", "hooks.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_bytes(b"name: \xff\n")
    gone = tmp_path / "gone.yaml"
    gone.symlink_to(tmp_path / "nowhere.yaml")
    result = lint([hooks, broken, gone], root=REPO)
    assert [(Path(f.path).name, f.line, f.code) for f in result.findings] == [
        ("broken.yaml", 1, "F001"),
        ("gone.yaml", 1, "F001"),
        ("hooks.yaml", 1, "F003"),
    ]


def test_priors_file_finds_leaves_over_their_limit(tmp_path: Path) -> None:
    """--priors gives every config token counts: a leaf over its limit is R001 with the
    numbers."""
    base = next(e for e in EXAMPLES if e.code == "M003" and e.kind == "good").data.decode()
    path = write(tmp_path, base)
    counts = {"web:hi": 1_000_000, "web:lo": 100_000_000, "wiki": 100_000_000}
    priors = write(tmp_path, yaml.safe_dump({"priors": {"token_counts": counts}}), "p.yaml")
    assert invoke("lint", path).code == 0
    code, stdout, _ = invoke("lint", path, "--priors", priors)
    assert code == 1
    assert re.fullmatch(
        r".*:14:22: R001 mix not feasible: web:hi needs 87,543,590 of 1,000,000 tokens"
        r" \(87\.54x, max 1x\) \(.*\)\n",
        stdout,
    )


def test_duplicate_keys_are_all_found_and_the_rest_still_checked(tmp_path: Path) -> None:
    """Each repeated key is F004 at its second place; the file is read as olmix reads it
    (the last one wins), so other rules still apply."""
    base = next(e for e in EXAMPLES if e.code == "M003" and e.kind == "good").data.decode()
    text = base.replace("repetition_factor: 2.0}", "repetition_factor: 2.0, weight: 0.5}").replace(
        "name: small\n", "name: small\nname: again\n"
    )
    result = lint([write(tmp_path, text)], root=REPO)
    assert [(f.line, f.code) for f in result.findings] == [(2, "F004"), (15, "M004"), (16, "F004")]


def test_hostile_yaml_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """An alias bomb is refused by the bounded loader: one F002 finding."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
        for p, c in zip("abcdef", "bcdefg", strict=True)
    )
    [finding] = lint([write(tmp_path, bomb)], root=REPO).findings
    assert finding.code == "F002" and "alias" in finding.message


def test_the_installed_command_runs() -> None:
    """The entry point lints the generated configs: no findings, exit 0."""
    script = Path(sys.executable).with_name("qupsample")
    result = subprocess.run(
        [str(script), "lint", "generated"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr.endswith("file(s) checked: no findings\n")


def test_pre_commit_hook_runs_lint_on_yaml_files() -> None:
    """The `qupsample-lint` hook runs `qupsample lint` on the YAML files of a commit."""
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "qupsample-lint")
    assert hook["entry"] == "qupsample lint"
    assert hook.get("pass_filenames", True) is True
    assert re.search(hook["files"], "configs/heavy_code.yml")
    assert not re.search(hook["files"], "README.md")


def test_flat_keyed_and_mixed_mix_blocks_lint_clean(tmp_path: Path) -> None:
    """olmix's other mix shapes (`source:topic:bucket` keys, or nested and flat mixed)
    read as olmix reads them; a stray flat key is found at its line."""
    base = next(e for e in EXAMPLES if e.code == "M003" and e.kind == "good").data.decode()
    head = base.split("mix:\n")[0]
    flat = head + 'mix:\n  "web:hi": 0.63\n  "web:lo": 0.27\n  wiki: {weight: 0.1}\n'
    mixed = head + "mix:\n  web: {weight: 0.9, hi: 0.7, lo: 0.3}\n  wiki: 0.1\n"
    assert lint([write(tmp_path, flat, "a.yaml"), write(tmp_path, mixed, "b.yaml")]).findings == ()
    stray = flat.replace('"web:lo"', '"web:low"')
    codes = [(f.code, f.line) for f in lint([write(tmp_path, stray, "c.yaml")]).findings]
    assert ("M003", 15) in codes  # the "web:low" key


def test_any_damaged_config_is_findings_never_a_crash(tmp_path: Path) -> None:
    """A generated launch config with any one line deleted lints without an exception."""
    text = (REPO / "generated/quality_upsampling_launch/heavy_wiki/gradual.yaml").read_text()
    lines = text.splitlines(keepends=True)
    body = [i for i, line in enumerate(lines) if not line.startswith("#")]
    for i in body[::7]:
        damaged = "".join(lines[:i] + lines[i + 1 :])
        result = lint([write(tmp_path, damaged)], root=REPO)
        assert all(f.code in RULES for f in result.findings)


def test_a_project_s_own_spec_files_are_not_olmix_configs(tmp_path: Path) -> None:
    """Linting a qupsample project (specs, settings, families...) finds nothing, whether the
    files are found in a folder or named one by one, as a pre-commit hook names them."""
    code, out, err = invoke("init", tmp_path / "p")
    assert code == 0, err
    specs = sorted((tmp_path / "p" / "schemes").rglob("*.yaml"))
    assert len(specs) > 10
    assert invoke("lint", tmp_path / "p").code == 0
    code, out, err = invoke("lint", *specs)
    assert (code, out) == (0, ""), out
