"""Reading a campaign file: YAML in, a validated CampaignConfig out, or one error line per bad field.

`load_campaign(path)` is the one way in. Relative paths in the file are resolved against the
file's own folder, so a campaign folder can be moved or checked in as a whole.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from alflow.config.schema import CampaignConfig
from alflow.errors import ConfigError


def _resolve(uri: str, base: Path) -> str:
    if "://" in uri or uri.startswith("sqlite:"):
        return uri
    path = Path(uri).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _resolve_tracking(uri: str, base: Path) -> str:
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((base / uri[len(prefix) :]).resolve())
    return uri


def _with_resolved_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    raw = dict(raw)
    for key in ("pool", "seed_labels", "holdout"):
        if isinstance(raw.get(key), dict) and isinstance(raw[key].get("uri"), str):
            raw[key] = {**raw[key], "uri": _resolve(raw[key]["uri"], base)}
    gold = raw.get("gold")
    if isinstance(gold, dict) and isinstance(where := gold.get("uri", gold.get("path")), str):
        raw["gold"] = {k: v for k, v in gold.items() if k not in ("uri", "path")} | {"uri": _resolve(where, base)}
    if isinstance(raw.get("vendor"), dict) and isinstance(raw["vendor"].get("bucket"), str):
        raw["vendor"] = {**raw["vendor"], "bucket": _resolve(raw["vendor"]["bucket"], base)}
    if isinstance(raw.get("tracking"), dict) and isinstance(raw["tracking"].get("uri"), str):
        raw["tracking"] = {**raw["tracking"], "uri": _resolve_tracking(raw["tracking"]["uri"], base)}
    if isinstance(raw.get("tracking"), dict) and isinstance(raw["tracking"].get("reference_curve"), str):
        raw["tracking"] = {**raw["tracking"], "reference_curve": _resolve(raw["tracking"]["reference_curve"], base)}
    return raw


def _section(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model that holds the last key of `loc` (CampaignConfig at the top level)."""
    model: type[BaseModel] = CampaignConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            annotation = next((a for a in typing.get_args(annotation) if a is not type(None)), None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def unknown_key(loc: tuple[Any, ...]) -> str:
    """'unknown key ...; did you mean ...?' for a key the schema does not have, or the keys it has."""
    name, model = str(loc[-1]), _section(loc)
    if model is None:
        return f"unknown key {name!r}"
    keys = list(model.model_fields)
    close = difflib.get_close_matches(name, keys, n=1, cutoff=0.75) or [
        k for k in keys if k.replace("_", "") == name.replace("_", "").replace("-", "").lower()
    ]
    if close:
        return f"unknown key {name!r}; did you mean {close[0]!r}?"
    return f"unknown key {name!r}; the keys here are {', '.join(keys)}"


def describe_errors(error: ValidationError, source: str) -> str:
    """One line per bad field: `source: field.path: message (got value)`; an unknown key gets the
    key it was probably meant to be."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"{source}: {where}: {unknown_key(tuple(item['loc']))}")
            continue
        got = item.get("input")
        shown = "" if isinstance(got, dict) or item["type"] == "missing" else f" (got {got!r})"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {message}{shown}")
    return "\n".join(lines)


def parse_campaign(raw: Any, *, base: Path, source: str = "campaign") -> CampaignConfig:
    """Validate an already-parsed document; relative paths are resolved against `base`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        return CampaignConfig.model_validate(_with_resolved_paths(raw, base))
    except ValidationError as error:
        raise ConfigError(describe_errors(error, source)) from None


def load_campaign(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign file. Raises ConfigError with one line per bad field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the campaign file ({error.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    return parse_campaign(raw, base=path.resolve().parent, source=str(path))
