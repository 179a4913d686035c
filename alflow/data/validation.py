"""Great Expectations suites for the pool, the label files and vendor deliveries.

Every check goes through `check`: it runs a suite on a frame and raises DataValidationError with
one line naming the file, the rule and an example row, so the caller can stop before writing
anything. GX is imported on first use (it costs seconds) and its context is made once.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa

from alflow.data.ids import IdScan, scan_ids
from alflow.errors import DataValidationError
from alflow.kinds import MEANINGS, LabelKind


class Rule(NamedTuple):
    """One expectation: kind is column_exists, not_null, unique or in_set (kwargs: value_set)."""

    kind: str
    column: str
    kwargs: dict[str, Any] | None = None
    meaning: str | None = None  # what a failure means, in the user's words


@functools.cache
def _context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX pins this module's logger to INFO at import, so every ephemeral context announces a temp
    # folder whatever the application configured; hand the level back to the application.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.NOTSET)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("alflow")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    return gx, batch_definition


def _expectation(gx: Any, rule: Rule, index: int) -> Any:
    classes = {
        "column_exists": gx.expectations.ExpectColumnToExist,
        "not_null": gx.expectations.ExpectColumnValuesToNotBeNull,
        "unique": gx.expectations.ExpectColumnValuesToBeUnique,
        "in_set": gx.expectations.ExpectColumnValuesToBeInSet,
    }
    return classes[rule.kind](column=rule.column, meta={"rule": index}, **(rule.kwargs or {}))


_FAILS = {
    "expect_column_values_to_not_be_null": "column {column!r} must not be empty",
    "expect_column_values_to_be_unique": "column {column!r} must be unique",
    "expect_column_values_to_be_in_set": "column {column!r} has values outside the allowed set",
}


def _rule_failed(source: str, rule: Rule, rule_name: str, count: int, example: str = "") -> DataValidationError:
    """The one line for a row rule that failed, whichever engine found it (GX, or the pool's id scan)."""
    what = rule.meaning or _FAILS.get(rule_name, f"{rule_name} failed on {{column!r}}").format(column=rule.column)
    return DataValidationError(f"{source}: {what} ({rule_name}, {count} row(s)){example}")


def _error(result: Any, rule: Rule, frame: pd.DataFrame, source: str) -> DataValidationError:
    """The one-line error for a failed rule, with its reason code (missing_column or rule_failed)."""
    config = result.expectation_config
    column = rule.column
    rule_name = config.type
    if rule_name == "expect_column_to_exist":
        message = f"{source}: required column {column!r} is missing (columns: {list(frame.columns)})"
        return DataValidationError(message, reason="missing_column")
    if result.exception_info.get("raised_exception"):
        message = result.exception_info["exception_message"]
        return DataValidationError(f"{source}: {rule_name} on {column!r} could not run: {message}")
    indices = result.result.get("unexpected_index_list") or []
    example = ""
    if indices:
        shown = {k: v for k, v in frame.loc[indices[0]].to_dict().items() if not k.startswith("_")}
        example = f"; e.g. row {int(indices[0]) + 1}: {shown}"
    count = result.result.get("unexpected_count", len(indices))
    return _rule_failed(source, rule, rule_name, count, example)


def _holds(frame: pd.DataFrame, rule: Rule) -> bool:
    """Whether `rule` surely holds on `frame`, by pandas; False when it fails or is in doubt.

    The same semantics as GX's pandas engine: row rules look at the non-null values only, except
    not-null. Checked against GX by tests/test_pools.py on generated frames.
    """
    if rule.column not in frame.columns:
        return False
    values = frame[rule.column]
    if rule.kind == "column_exists":
        return True
    if rule.kind == "not_null":
        return bool(values.notna().all())
    present = values.dropna()
    if rule.kind == "unique":
        return not bool(present.duplicated().any())
    if rule.kind == "in_set":
        return bool(present.isin((rule.kwargs or {}).get("value_set", [])).all())
    return False


def _failed(frame: pd.DataFrame, rules: list[Rule]) -> dict[int, Any]:
    """Rule index -> GX result, for every rule that failed or could not run.

    When pandas finds every rule holding, GX is not run (nor imported: that alone costs seconds);
    any failure or doubt is GX's to judge and report.
    """
    if all(_holds(frame, rule) for rule in rules):
        return {}
    gx, batch_definition = _context()
    suite = gx.ExpectationSuite(name="alflow")
    for index, rule in enumerate(rules):
        suite.add_expectation(_expectation(gx, rule, index))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    outcome = batch.validate(suite, result_format="COMPLETE")
    # GX never raises for a broken expectation: it reports success=False with exception_info.
    return {
        result.expectation_config.meta["rule"]: result
        for result in outcome.results
        if not result.success or result.exception_info.get("raised_exception")
    }


def check(frame: pd.DataFrame, rules: list[Rule], *, source: str) -> None:
    """Run `rules` on `frame`; raise DataValidationError for the first failing rule, in order."""
    frame = frame.reset_index(drop=True)
    failed = _failed(frame, rules)
    if failed:
        first = min(failed)
        raise _error(failed[first], rules[first], frame, source)


def _columns_rules(columns: Iterable[str]) -> list[Rule]:
    return [Rule("column_exists", c) for c in columns]


def check_pool(header: list[str], scan: IdScan, *, id_column: str, features: list[str], source: str) -> None:
    """The pool has the id and feature columns, and every item a unique, non-empty id.

    `scan` is what one streamed pass over the id column found (alflow.data.ids): the pool is
    never held in memory, and the messages are those GX gives for the same rules.
    """
    check(pd.DataFrame(columns=header), _columns_rules([id_column, *features]), source=source)
    if scan.nulls:
        example = f"; e.g. row {(scan.first_null or 0) + 1}: {{{id_column!r}: None}}"
        rule = Rule("not_null", id_column)
        raise _rule_failed(source, rule, "expect_column_values_to_not_be_null", scan.nulls, example)
    if scan.duplicated:
        example = f"; e.g. row {(scan.first_duplicate or 0) + 1}: {{{id_column!r}: {scan.duplicate!r}}}"
        raise _rule_failed(
            source, Rule("unique", id_column), "expect_column_values_to_be_unique", scan.duplicated, example
        )


def check_ids(ids: pd.Series, *, header: list[str], id_column: str, features: list[str], source: str) -> None:
    """`check_pool` for a small in-memory file of items (an arrival)."""
    scan = scan_ids(lambda: [(0, pa.Array.from_pandas(ids.astype(object), type=pa.string()))])
    check_pool(header, scan, id_column=id_column, features=features, source=source)


def class_rules(label_column: str, classes: Iterable[str]) -> list[Rule]:
    """Every item has a label, and every label is in the class set."""
    allowed = sorted(classes)
    meaning = f"label column {label_column!r} has labels outside the class set {allowed}"
    return [Rule("not_null", label_column), Rule("in_set", label_column, {"value_set": allowed}, meaning=meaning)]


def label_rules(id_column: str, label_column: str, classes: Iterable[str]) -> list[Rule]:
    """A labeled set: ids present and unique, labels present and in the class set."""
    ids = [Rule("not_null", id_column), Rule("unique", id_column, meaning=f"id column {id_column!r} has duplicates")]
    return ids + class_rules(label_column, classes)


def _kind_rules(label_column: str, classes: Iterable[str], kind: LabelKind | None) -> list[Rule]:
    """class_rules, or for another kind of label only not-null (`check_kind` checks the values)."""
    if kind is None or kind.is_class:
        return class_rules(label_column, classes)
    return [Rule("not_null", label_column)]


def check_kind(frame: pd.DataFrame, *, label_column: str, kind: LabelKind | None, source: str) -> None:
    """Every label is one of `kind` (alflow.kinds): one line with the reason and the first bad row."""
    if kind is None or kind.is_class or label_column not in frame.columns:
        return
    _, reasons = kind.parse_column(frame[label_column].reset_index(drop=True))
    bad = reasons.dropna()
    if bad.empty:
        return
    first, reason = int(bad.index[0]), str(bad.iloc[0])
    shown = {k: v for k, v in frame.iloc[first].to_dict().items() if not str(k).startswith("_")}
    raise DataValidationError(
        f"{source}: label column {label_column!r} has {MEANINGS[reason]} ({reason}, {len(bad)} row(s)); "
        f"e.g. row {first + 1}: {shown}",
        reason=reason,
    )


def check_holdout(
    frame: pd.DataFrame,
    *,
    features: list[str],
    label_column: str,
    classes: Iterable[str],
    source: str,
    kind: LabelKind | None = None,
) -> None:
    """A holdout: the feature and label columns exist, every item has a label of the class set (or of `kind`)."""
    check(frame, _columns_rules([*features, label_column]) + _kind_rules(label_column, classes, kind), source=source)
    check_kind(frame, label_column=label_column, kind=kind, source=source)


def check_labels(
    frame: pd.DataFrame,
    *,
    id_column: str,
    label_column: str,
    classes: Iterable[str],
    allowed_ids: pd.Index | set[str] | None,
    allowed_name: str = "the allowed ids",
    source: str,
    kind: LabelKind | None = None,
) -> None:
    """A label file: the columns exist, ids unique and allowed, labels in the class set.

    `allowed_ids` is the pool (for seed labels) or the batch (for a delivery); None skips it.
    """
    check(frame.head(0), _columns_rules([id_column, label_column]), source=source)
    ids = [Rule("not_null", id_column), Rule("unique", id_column, meaning=f"id column {id_column!r} has duplicates")]
    rules = ids + _kind_rules(label_column, classes, kind)
    if allowed_ids is not None:
        # Membership is computed here and checked as a flag: a pool can hold millions of ids,
        # too many to embed in an expectation.
        frame = frame.assign(_known=frame[id_column].isin(allowed_ids))
        meaning = f"ids not in {allowed_name}"
        rules.append(Rule("in_set", "_known", {"value_set": [True]}, meaning=meaning))
    check(frame, rules, source=source)
    check_kind(frame, label_column=label_column, kind=kind, source=source)


def document(frame: pd.DataFrame, rules: list[Rule], *, name: str, folder: str) -> dict:
    """Run `rules` on `frame` as a GX checkpoint, render its Data Docs into `folder` and return the
    validation result as a JSON-able dict. Never raises for a failed rule: this records, `check` decides.

    Each call uses its own ephemeral context, so the docs hold this one validation only; the large
    decorative images and fonts GX copies into every site are left out (megabytes per round).
    """
    gx, _ = _context()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    backend = {"class_name": "TupleFilesystemStoreBackend", "base_directory": folder}
    # Only the validation page and the index: the suite and profiling pages would double the render time.
    sections = {"expectations": "0", "profiling": "0"}
    context.add_data_docs_site(
        "alflow", {"class_name": "SiteBuilder", "store_backend": backend, "site_section_builders": sections}
    )
    batch_definition = (
        context.data_sources.add_pandas("alflow")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for index, rule in enumerate(rules):
        suite.add_expectation(_expectation(gx, rule, index))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch_definition, suite=suite, name=name)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data-docs", site_names=["alflow"])],
            result_format="SUMMARY",
        )
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": frame.reset_index(drop=True)})
    for static in (*Path(folder, "static", "images").glob("*"), *Path(folder, "static", "fonts").rglob("*")):
        if static.is_file() and static.stat().st_size > 50_000:
            static.unlink()
    (result,) = outcome.run_results.values()
    return result.to_json_dict()


def document_labels(
    frame: pd.DataFrame,
    *,
    id_column: str,
    label_column: str,
    classes: Iterable[str],
    folder: str,
    kind: LabelKind | None = None,
) -> dict:
    """`document` a labeled set: ids present and unique, labels present and in the class set (or, for
    another kind of label, present: the ledger holds them in their one spelling, checked on the way in)."""
    ids = [Rule("not_null", id_column), Rule("unique", id_column, meaning=f"id column {id_column!r} has duplicates")]
    return document(frame, ids + _kind_rules(label_column, classes, kind), name="labeled-set", folder=folder)
