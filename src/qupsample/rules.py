"""What olmix would silently drop, ignore or refuse in a config: every rule, once.

Each rule is a function returning `Finding`s: a documented code (`RULES`), where
(the config), the dotted field, what is wrong and how to fix it. `dialects` applies
the rules about form, trainer and paths while it reads a config; `resolve` applies
the mix, minimum-weight and priors rules while it resolves one. `resolve --strict`
prints the findings as one `warning:` line each (`str(finding)`); `qupsample lint`
prints the same findings at the line of the node `Finding.node` names. So the two
never disagree.

Codes are grouped by family: F (form), M (mix and data), T (trainer), P (paths), R
(repetition and priors). `docs/lint.md` has a bad and a good example of each.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel

from qupsample.errors import located, shorten, shown_names
from qupsample.mixblock import RESERVED_KEYS, MixLeaf
from qupsample.olmixmodels import ExperimentConfig, SourceConfig, walk_data
from qupsample.specmodels import DEFAULT_DTYPE, Proxies
from qupsample.specs import suggest
from qupsample.weights import Entry, LeafShare, below_minimum, walk_leaves

# How far olmix's leaf weights may sum from 1, and data weights differ from the mix.
MIX_TOLERANCE = 1e-6

Node = tuple[str | int, ...]


@dataclass(frozen=True)
class Rule:
    """One documented check: its code, a short name and what it finds."""

    code: str
    name: str
    summary: str
    severity: str = "error"


FAMILIES = {
    "F": "form: the file, its YAML and the fields olmix reads",
    "M": "mix and data: what olmix samples from each data leaf",
    "T": "trainer: the model, tokenizer and dtype the training job builds",
    "P": "paths: the token files each leaf reads",
    "R": "repetition and priors: token counts against the budget",
}

RULES = {
    rule.code: rule
    for rule in (
        Rule("F001", "unreadable-file", "the file cannot be read (missing, not UTF-8, too large)"),
        Rule("F002", "invalid-yaml", "the file is not valid YAML, or nests or aliases too much"),
        Rule("F003", "not-an-olmix-config", "the file is none of olmix's config forms"),
        Rule("F004", "duplicate-key", "a key appears twice in one mapping (the last one wins)"),
        Rule("F005", "ignored-key", "a key olmix ignores or does not know (silently lost)"),
        Rule(
            "F006",
            "ignored-data-field",
            "a plan-era data field current olmix ignores (max_repetition_factor, ...)",
        ),
        Rule("F007", "missing-field", "a field olmix requires is missing"),
        Rule("F008", "bad-value", "a value of the wrong type or out of range (negative, NaN)"),
        Rule("M001", "leaf-not-in-mix", "a data leaf has no mix entry (olmix drops it)"),
        Rule("M002", "leaf-weight-zero", "a data leaf has weight 0 in the mix (olmix drops it)"),
        Rule("M003", "mix-names-no-leaf", "a mix entry names no data leaf (olmix ignores it)"),
        Rule("M004", "mix-sum", "the mix's leaf weights do not sum to 1 (no renormalizing)"),
        Rule("M005", "data-weights-disagree", "data weights disagree with the mix"),
        Rule("M006", "no-mix", "a launch config without mix: (`olmix launch run` refuses it)"),
        Rule("M007", "below-minimum-weight", "a leaf weight below minimum_weight (dropped)"),
        Rule(
            "M008",
            "plan-era-mix",
            "a plan-era config with a mix: block (read by neither olmix)",
            "warning",
        ),
        Rule("M009", "unusable-weights", "data weights that cannot be normalized"),
        Rule("T001", "unknown-proxy-model", "proxy_model_id names no model olmix knows"),
        Rule("T002", "unbuildable-proxy-model", "a model olmix lists but the trainer cannot build"),
        Rule("T003", "trainer-tokenizer", "a tokenizer the trainer rejects ('Unknown tokenizer')"),
        Rule("T004", "dtype-mismatch", "data.dtype disagrees with the tokenizer's token ids"),
        Rule("T005", "tokenizer-folder", "paths under another tokenizer's folder"),
        Rule(
            "T006",
            "nominal-budget",
            "the trainer's model size is unknown, so the budget is nominal",
            "warning",
        ),
        Rule("P001", "unreadable-url", "a path that is not a URL or local path olmix can read"),
        Rule("P002", "not-npy-glob", "a path that cannot match .npy token files, or not only them"),
        Rule("P003", "path-in-two-leaves", "the same path in two leaves (counted twice)"),
        Rule("R001", "over-repetition", "a leaf needs more tokens than repetition_factor allows"),
        Rule("R002", "stray-priors-key", "a priors count naming no data leaf (never used)"),
    )
}


@dataclass(frozen=True)
class Finding:
    """One thing olmix would silently drop, ignore or refuse, with a documented `code`.

    `at` names the offending node of the file (keys, list indices, and data entries or
    mix leaves by name); by default the node is `field`'s parts.
    """

    code: str
    where: str
    field: str | None
    what: str
    fix: str | None = None
    at: Node | None = None

    def __str__(self) -> str:
        return located(self.where, self.field, self.what, self.fix)

    @property
    def node(self) -> Node:
        """The path of the offending node (see `qupsample.lint.locate`)."""
        if self.at is not None:
            return self.at
        return tuple(self.field.split(".")) if self.field else ()

    @property
    def message(self) -> str:
        """`field: what`, without the config's name or the fix."""
        return f"{self.field}: {self.what}" if self.field else self.what


def leaf_node(section: str, leaf: str) -> Node:
    """The node of a leaf (`source:topic:bucket`) in `data` or `mix`."""
    return (section, *leaf.split(":"))


# ------------------------------------------------------------------------- form


def ignored_keys(
    model: BaseModel, where: str, allowed: Iterable[str] = (), section: str = ""
) -> list[Finding]:
    """Keys of an olmix section (or the top level) that current olmix ignores."""
    ignored = sorted(set(map(key_name, model.model_extra or {})) - set(allowed))
    what = (
        f"current olmix ignores this key of {section}:"
        if section
        else "current olmix ignores this top-level key"
    )
    return [
        Finding("F005", where, f"{section}.{key}" if section else key, what, "remove it")
        for key in ignored
    ]


def key_name(key: Any) -> str:
    """A key as shown in a message: a newline or control character would break the line."""
    text = str(key)
    return text if text.isprintable() else repr(text)


# Fields of data entries the plan-era form had and current olmix ignores.
IGNORED_DATA_FIELDS = ("max_repetition_factor", "max_topic_ratio")


def ignored_data_fields(sources: Sequence[SourceConfig], where: str) -> list[Finding]:
    """Plan-era fields of data entries that current olmix ignores."""
    findings = []
    for name, node in walk_data(sources):
        for field in IGNORED_DATA_FIELDS:
            if getattr(node, field, None) is not None:
                findings.append(
                    Finding(
                        "F006",
                        where,
                        f"data.{name}.{field}",
                        "current olmix ignores it",
                        "set repetition_factor in mix: instead"
                        if field == "max_repetition_factor"
                        else "remove it",
                    )
                )
    return findings


def missing_mix(where: str) -> Finding:
    """A launch config without `mix:`."""
    return Finding(
        "M006",
        where,
        "mix",
        "missing: `olmix launch run` refuses a launch config without one",
        "add it: `qupsample convert` writes it from the data's weights",
        at=(),
    )


def missing_eval(where: str) -> Finding:
    """A launch config without `eval:` (older forms): read, but olmix refuses it."""
    return Finding(
        "F007",
        where,
        "eval",
        "missing: current olmix refuses a launch config without one",
        "add it: `qupsample convert` writes the project's in-loop suite",
        at=(),
    )


# ---------------------------------------------------------------------- trainer


def trainer_findings(
    proxies: Proxies, training: BaseModel, where: str, section: str = "training."
) -> list[Finding]:
    """A config's model and tokenizer (in `section`) against what the trainer can build.

    A plan-era config (no `section`) may leave either out: then it is not checked.
    """
    findings = []
    tokenizer = getattr(training, "tokenizer", None)
    trainers = proxies.trainer_tokenizers
    if tokenizer not in trainers and (tokenizer is not None or section):
        findings.append(
            Finding(
                "T003",
                where,
                f"{section}tokenizer",
                f"the trainer accepts only {', '.join(trainers)}, not {tokenizer!r}"
                " (the job fails with 'Unknown tokenizer')",
                "use one of those",
            )
        )
    proxy = getattr(training, "proxy_model_id", None)
    model = proxies.proxy_models.get(proxy or "")
    if model is None and (proxy is not None or section):
        findings.append(
            Finding(
                "T001",
                where,
                f"{section}proxy_model_id",
                f"unknown proxy model {proxy!r}",
                suggest(str(proxy), proxies.proxy_models, "known", ordered=True),
            )
        )
    elif model is not None and not model.builds:
        findings.append(
            Finding(
                "T002",
                where,
                f"{section}proxy_model_id",
                f"olmix lists {proxy} but the trainer cannot build it",
                "choose another proxy model",
            )
        )
    return findings


def folder_findings(proxies: Proxies, config: ExperimentConfig, where: str) -> list[Finding]:
    """Paths under one tokenizer's folder (`allenai/dolma2-tokenizer/`) while the config
    names another tokenizer: the trainer would read those token ids with the wrong one."""
    if config.tokenizer is None or config.tokenizer not in proxies.tokenizers:
        return []
    own = set(proxies.tokenizers[config.tokenizer].folders)
    for _, entry in walk_data(config.sources):
        for path in entry.paths or ():
            found = proxies.folder_tokenizer(path)
            if found is None or found == config.tokenizer:
                continue
            folders = proxies.tokenizers[found].folders
            if own & set(folders) or any(f"/{f}/" in path for f in own):
                continue
            return [
                Finding(
                    "T005",
                    where,
                    "tokenizer",
                    f"is {config.tokenizer}, but {shorten(path, 80)} is under"
                    f" {'/'.join(folders[:1])}/ ({found} token ids)",
                    f"set the tokenizer to {found}, or point the paths at {config.tokenizer}'s"
                    " token files",
                )
            ]
    return []


def dtype_findings(
    proxies: Proxies, dtype: str, tokenizer: str, where: str, data: BaseModel
) -> list[Finding]:
    """`data.dtype` (given, or olmix's default) against the tokenizer's token ids."""
    known = proxies.tokenizers.get(tokenizer)
    expected = known.dtype if known is not None else None
    if expected is None or expected == dtype:
        return []
    given = "dtype" in data.model_fields_set
    what = f"is {dtype}" if given else f"is not set (olmix reads {DEFAULT_DTYPE})"
    return [
        Finding(
            "T004",
            where,
            "data.dtype",
            f"{what} but tokenizer {tokenizer} writes {expected}",
            f"set data.dtype: {expected}",
            at=("data", "dtype") if given else ("data",),
        )
    ]


def nominal_budget(
    where: str, proxy: str | None, tokenizer: str | None, nominal: int, trainers: Sequence[str]
) -> Finding:
    """The trainer's size of the model is unknown: the budget is olmix's nominal one."""
    return Finding(
        "T006",
        where,
        "tokenizer",
        f"the trainer's size of {proxy} with tokenizer {tokenizer or '(none)'} is unknown,"
        f" so the budget is olmix's nominal {nominal:,} tokens",
        f"use a trainer tokenizer ({', '.join(trainers)}), or add the model's trainer size"
        " for this tokenizer to schemes/proxies.yaml",
    )


# ------------------------------------------------------------------------ paths

# Where olmix's trainer reads token files from: these URL schemes, or a local path.
URL_SCHEMES = ("s3", "gs", "r2", "weka", "http", "https")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def path_findings(config: ExperimentConfig, where: str, section: str) -> list[Finding]:
    """Each leaf's paths: a URL olmix can read, a glob of `.npy` files, in one leaf only."""
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    for name, entry in walk_data(config.sources):
        for index, path in enumerate(entry.paths or ()):
            field = ".".join(filter(None, (section, name, "paths")))
            at = (*leaf_node(section, name.replace(".", ":")), "paths", index)
            problem = _url_problem(path) or _npy_problem(path)
            if problem is not None:
                code, what, fix = problem
                findings.append(
                    Finding(code, where, field, f"{shorten(path, 80)}: {what}", fix, at)
                )
            if path in seen:
                findings.append(
                    Finding(
                        "P003",
                        where,
                        field,
                        f"{shorten(path, 80)} is also a path of {seen[path]}: its tokens are"
                        " sampled twice, under two weights",
                        "keep it in one leaf",
                        at,
                    )
                )
            seen.setdefault(path, name)
    return findings


def _url_problem(path: str) -> tuple[str, str, str] | None:
    scheme = _SCHEME.match(path)
    if scheme is None or len(scheme.group(1)) == 1:  # a local path (or a Windows drive)
        return None
    known = ", ".join(f"{s}://" for s in URL_SCHEMES)
    rest = path[scheme.end() :]
    if scheme.group(1).lower() not in URL_SCHEMES:
        what = f"olmix cannot read {scheme.group(1)}: URLs"
    elif not rest.startswith("//") or not rest[2:].split("/")[0]:
        what = f"not a {scheme.group(1)}:// URL (it needs //bucket/...)"
    else:
        return None
    return "P001", what, f"use {known} or a local path"


def _npy_problem(path: str) -> tuple[str, str, str] | None:
    name = PurePosixPath(path).name
    if name.endswith(".npy"):
        return None
    if any(char in name for char in "*?["):
        what = "matches more than .npy token files (sidecar metadata is counted as tokens)"
    else:
        what = "is not a .npy token file"
    return "P002", what, "end the glob in *.npy"


# -------------------------------------------------------------------------- mix


def check_mix(
    where: str,
    entries: Sequence[Entry],
    mix: Mapping[str, MixLeaf],
    implied: Sequence[LeafShare] | None,
    raw: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """What olmix will silently do with a `mix:` block, one finding per kind of problem.

    Args:
        where: the config, as shown in messages.
        entries: the config's data tree.
        mix: the flattened mix block.
        implied: the leaf shares the data's own weights give (None: the data has no
            weights), compared with the mix.
        raw: the mix block as written, to point at a sibling group not summing to 1.
    """
    leaves = [name for name, _ in walk_leaves(entries)]
    known = set(leaves)
    findings = []
    missing = [name for name in leaves if name not in mix]
    zero = [name for name in leaves if name in mix and mix[name].weight == 0]
    if missing:
        findings.append(
            Finding(
                "M001",
                where,
                "mix",
                f"no entry for data leaf {shown_names(missing)}",
                "olmix drops those leaves silently; add them to the mix",
                leaf_node("data", missing[0]),
            )
        )
    if zero:
        findings.append(
            Finding(
                "M002",
                where,
                "mix",
                f"weight 0 for data leaf {shown_names(zero)}",
                "olmix drops those leaves silently",
                leaf_node("mix", zero[0]),
            )
        )
    stray = [name for name in mix if name not in known]
    if stray:
        findings.append(
            Finding(
                "M003",
                where,
                "mix",
                f"{shown_names(stray)} names no data leaf",
                "olmix ignores it; fix the name or add the data",
                leaf_node("mix", stray[0]),
            )
        )
    total = math.fsum(mix[name].weight for name in leaves if name in mix)
    if abs(total - 1.0) > MIX_TOLERANCE:
        findings.append(_mix_sum(where, total, raw))
    if implied is not None:
        findings += _disagreeing(where, implied, mix)
    return findings


def _mix_sum(where: str, total: float, raw: Mapping[str, Any] | None) -> Finding:
    group = _unbalanced_group(raw, ()) if raw is not None else None
    at: tuple[str, ...]
    detail, at = "", ("mix",)
    if group is not None:
        path, names, value = group
        if path:  # the top-level sum is the total itself
            detail = f" (the weights under {':'.join(path)} sum to {value:.9g})"
        at = ("mix", *path, names[0])
    return Finding(
        "M004",
        where,
        "mix",
        f"data leaf weights sum to {total:.9g}, not 1{detail}",
        "olmix does not renormalize; make them sum to 1",
        at,
    )


def _unbalanced_group(
    node: Mapping[str, Any], path: tuple[str, ...]
) -> tuple[tuple[str, ...], list[str], float] | None:
    """The first sibling group whose weights are all given and do not sum to 1."""
    children = {k: v for k, v in node.items() if k not in RESERVED_KEYS}
    weights = [v.get("weight") if isinstance(v, Mapping) else v for v in children.values()]
    numbers = [w for w in weights if isinstance(w, int | float) and not isinstance(w, bool)]
    if children and len(numbers) == len(weights):
        value = math.fsum(numbers)
        if abs(value - 1.0) > MIX_TOLERANCE:
            return path, [str(k) for k in children], value
    for key, child in children.items():
        if isinstance(child, Mapping):
            found = _unbalanced_group(child, (*path, str(key)))
            if found is not None:
                return found
    return None


def _disagreeing(
    where: str, implied: Sequence[LeafShare], mix: Mapping[str, MixLeaf]
) -> list[Finding]:
    differ = [
        share.leaf
        for share in implied
        if share.weight is not None
        and abs(share.weight - (mix[share.leaf].weight if share.leaf in mix else 0.0))
        > MIX_TOLERANCE
    ]
    if not differ:
        return []
    return [
        Finding(
            "M005",
            where,
            "data",
            f"weights disagree with the mix for {shown_names(differ)}",
            "olmix uses the mix; drop the data weights or fix them",
            leaf_node("data", differ[0]),
        )
    ]


def unreadable_data_weights(where: str) -> Finding:
    """Data weights that cannot be read as one mix beside a `mix:` block."""
    return Finding(
        "M005",
        where,
        "data",
        "weights disagree with the mix: they cannot be read as one (e.g. some"
        " siblings have a weight and some do not)",
        "olmix uses the mix; drop the data weights",
    )


def plan_era_mix(where: str) -> Finding:
    """A plan-era (flat) config carrying a `mix:` block."""
    return Finding(
        "M008",
        where,
        "mix",
        "a plan-era config's mix: block is read here, but plan-era olmix"
        " ignores it and current olmix refuses the config",
        "convert it with `qupsample convert`",
    )


def below_minimum_weight(
    where: str, weights: Sequence[tuple[str, float | None]], minimum: float | None, in_mix: bool
) -> list[Finding]:
    """Leaves with a positive weight under `minimum_weight`: olmix drops them."""
    low = [leaf for leaf, weight in weights if below_minimum(weight, minimum)]
    if not low:
        return []
    return [
        Finding(
            "M007",
            where,
            None,
            f"{len(low)} leaf weight(s) below minimum_weight {minimum:g} (olmix drops them):"
            f" {', '.join(low)}",
            at=leaf_node("mix" if in_mix else "data", low[0]),
        )
    ]


# ------------------------------------------------------------ repetition, priors


def over_detail(leaf: str, requested: float, tokens: int, factor: float, limit: float) -> str:
    """`leaf needs R of T tokens (F x, max L x)`: one leaf over its repetition limit."""
    return f"{leaf} needs {requested:,.0f} of {tokens:,} tokens ({factor:.2f}x, max {limit:g}x)"


def over_repetition(
    where: str,
    leaf: str,
    requested: float,
    tokens: int,
    factor: float,
    limit: float,
    in_mix: bool,
) -> Finding:
    """A leaf whose requested tokens exceed its allowed repetition of the available ones."""
    return Finding(
        "R001",
        where,
        None,
        f"mix not feasible: {over_detail(leaf, requested, tokens, factor, limit)}",
        "lower its weight, raise its repetition_factor, or train on fewer tokens",
        leaf_node("mix" if in_mix else "data", leaf),
    )


def stray_priors(where: str, field: str, stray: Sequence[str], leaves: Sequence[str]) -> Finding:
    """Priors keys that name no data leaf: their counts are never used."""
    close = difflib.get_close_matches(stray[0], leaves, n=1)
    fix = f"did you mean {close[0]!r}? " if close else ""
    return Finding(
        "R002",
        where,
        f"{field}.token_counts" if field == "priors" else field,
        f"{shown_names(stray)} {'names' if len(stray) == 1 else 'name'} no data leaf, so"
        " the count is not used",
        f"{fix}fix the key, or count again with `qupsample priors CONFIG`",
        ("priors", "token_counts", stray[0]) if field == "priors" else (),
    )
