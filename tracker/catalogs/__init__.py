"""Catalogs: YAML files of sources, their recommendations, agencies and indicators.

The built-in ones live beside this module (``tip-2019-khm.yaml``...); a user's file has
the same format (see the README). Loading is one transaction and idempotent: what is
already stored identically is skipped; what differs from the record as it is now
(corrections applied) is refused, naming every differing field (:func:`differences`;
:func:`tracker.operations.load_catalog` can record them as corrections instead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import corrections, editions, validation
from tracker.audit.chain import Chain
from tracker.errors import Conflict, InputError
from tracker.periods import parse_date
from tracker.store.models import (
    Agency,
    Continuation,
    Indicator,
    Recommendation,
    RecommendationAgency,
    Source,
)
from tracker.vocab import Direction, Pillar, Relation, Role, TextStatus

DEFAULT = "tip-2019-khm"
MAX_FILE_BYTES = 5 * 1024 * 1024

# The fields of each kind of entry that are stored as given.
_SOURCE_FIELDS = (
    "slug",
    "title",
    "publisher",
    "country",
    "published_on",
    "period_start",
    "period_end",
    "rating",
    "url",
    "complete",
)
_RECOMMENDATION_FIELDS = ("code", "position", "title", "text", "text_status", "note", "pillar", "due_on")
_INDICATOR_FIELDS = ("code", "name", "unit", "direction", "target")


@dataclass(frozen=True)
class IndicatorSpec:
    code: str
    name: str
    unit: str
    direction: Direction
    target: float | None


@dataclass(frozen=True)
class ContinuesSpec:
    """An earlier edition's recommendation this one continues (``continues:`` in the file)."""

    source: str
    code: str
    relation: Relation
    note: str | None

    @property
    def ref(self) -> str:
        return f"{self.source}/{self.code}"


@dataclass(frozen=True)
class RecommendationSpec:
    code: str
    position: int | None
    title: str
    text: str
    text_status: TextStatus
    note: str | None
    pillar: Pillar
    due_on: date | None
    lead: str | None
    support: tuple[str, ...]
    indicators: tuple[IndicatorSpec, ...]
    continues: tuple[ContinuesSpec, ...] = ()


@dataclass(frozen=True)
class SourceSpec:
    slug: str
    title: str
    publisher: str
    country: str
    published_on: date
    period_start: date | None
    period_end: date | None
    rating: str | None
    url: str | None
    complete: bool
    recommendations: tuple[RecommendationSpec, ...]


@dataclass(frozen=True)
class Catalog:
    name: str
    agencies: tuple[tuple[str, str], ...]
    sources: tuple[SourceSpec, ...]


@dataclass
class LoadSummary:
    catalog: str
    added: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.added.values())

    def describe(self) -> str:
        label = _catalog_label(self.catalog)
        if not self.changed:
            return f"Catalog {label}: already loaded, nothing to add"
        labels = {
            "agency": ("agency", "agencies"),
            "source": ("source", "sources"),
            "recommendation": ("recommendation", "recommendations"),
            "recommendation_agency": ("agency assignment", "agency assignments"),
            "indicator": ("indicator", "indicators"),
            "continuation": ("continuation", "continuations"),
        }
        parts = [f"{count} {labels[name][count != 1]}" for name, count in self.added.items() if count]
        return f"Catalog {label}: added {', '.join(parts)}"


def builtin_names() -> list[str]:
    folder = resources.files(__name__)
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def describe_builtins() -> list[dict[str, Any]]:
    rows = []
    for name in builtin_names():
        catalog = read(name)
        for source in catalog.sources:
            rows.append(
                {
                    "name": name,
                    "title": source.title,
                    "published_on": source.published_on.isoformat(),
                    "rating": source.rating,
                    "recommendations": len(source.recommendations),
                    "complete": source.complete,
                }
            )
    return rows


def builtin_path(name: str):
    return resources.files(__name__) / f"{name}.yaml"


def read(name_or_file: str) -> Catalog:
    """A built-in catalog by name, or a user's YAML file by path."""
    import yaml

    if name_or_file in builtin_names():
        label, raw = name_or_file, builtin_path(name_or_file).read_bytes()
    else:
        path = Path(name_or_file)
        if not path.is_file():
            known = ", ".join(builtin_names())
            raise InputError(f"no catalog {name_or_file!r}: give a file path or a built-in name ({known})")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"catalog file {path} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
        label, raw = str(path), path.read_bytes()
    try:
        document = yaml.load(raw.decode("utf-8-sig"), Loader=_loader())
    except UnicodeDecodeError:
        raise InputError(f"catalog file {label}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"catalog file {label}: invalid YAML{where}") from None
    except RecursionError:
        raise InputError(
            f"catalog file {label}: nested too deeply to be a catalog; see the README's 'Catalog files' for the format"
        ) from None
    return parse(document, label)


def _loader():
    """YAML's safe loader, with dates left as text so that our strict parser checks them, and
    numbers only as people write them (see :func:`_as_written`)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_constructor("tag:yaml.org,2002:int", _as_written(_YAML_INT, yaml.SafeLoader.construct_yaml_int))
    Loader.add_constructor("tag:yaml.org,2002:float", _as_written(_YAML_FLOAT, yaml.SafeLoader.construct_yaml_float))
    return Loader


# YAML 1.1 reads 1_000 as 1000, 0x10 as 16, 010 as 8 and 1:30 as 90; a catalog reads numbers in
# the digits validation.number takes (and .inf and .nan, which it refuses by name).
_YAML_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_YAML_FLOAT = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def _as_written(spelling: re.Pattern[str], construct):
    """A YAML constructor of numbers that leaves any other spelling (or a wrong ``!!int``) as the
    text it is, for the field's own check to refuse by name: "invalid target '1_000': give a number"."""

    def construct_number(loader, node):
        if isinstance(node.value, str) and spelling.fullmatch(node.value):
            return construct(loader, node)
        return loader.construct_scalar(node)

    return construct_number


def parse(document: Any, label: str) -> Catalog:
    """Validate a catalog document; errors name the file, the entry and the field."""
    if not isinstance(document, dict):
        raise InputError(f"catalog file {label}: expected a mapping with 'sources' (and 'agencies')")
    _only(document, {"agencies", "sources"}, label, "the top level")
    agencies = []
    for index, entry in enumerate(_list(document, "agencies", label, "the top level")):
        agencies.append(_agency(entry, label, f"agencies[{index}]"))
    sources = []
    raw_sources = _list(document, "sources", label, "the top level")
    if not raw_sources and not agencies:
        raise InputError(f"catalog file {label}: it has no sources and no agencies")
    for index, entry in enumerate(raw_sources):
        sources.append(_source(entry, label, f"sources[{index}]"))
    return Catalog(name=label, agencies=tuple(agencies), sources=tuple(sources))


def _agency(entry: Any, label: str, where: str) -> tuple[str, str]:
    _only(entry, {"code", "name"}, label, where)
    return (
        _field(label, where, "code", lambda: validation.code(entry.get("code"))),
        _field(label, where, "name", lambda: validation.text(entry.get("name"), "name")),
    )


def _source(entry: Any, label: str, where: str) -> SourceSpec:
    _only(entry, {*_SOURCE_FIELDS, "recommendations"}, label, where)
    slug = _field(label, where, "slug", lambda: validation.code(entry.get("slug"), "slug"))
    where = f"{where} ({slug})"
    country = _field(label, where, "country", lambda: validation.text(entry.get("country"), "country", max_length=2))
    if len(country) != 2 or not country.isalpha() or not country.isupper():
        raise InputError(f"catalog file {label}: {where}: field 'country': use an ISO 3166 alpha-2 code, e.g. KH")
    recommendations = []
    for index, rec in enumerate(_list(entry, "recommendations", label, where)):
        recommendations.append(_recommendation(rec, label, f"{where}.recommendations[{index}]"))
    for rec in recommendations:
        for earlier in rec.continues:
            if earlier.source == slug:
                raise InputError(
                    f"catalog file {label}: {where}: recommendation {rec.code}: continues {earlier.ref}: "
                    "a recommendation continues one of an earlier edition, not of its own"
                )
    complete = entry.get("complete", True)
    if not isinstance(complete, bool):
        raise InputError(f"catalog file {label}: {where}: field 'complete': use true or false")
    return SourceSpec(
        slug=slug,
        title=_field(label, where, "title", lambda: validation.text(entry.get("title"), "title")),
        publisher=_field(label, where, "publisher", lambda: validation.text(entry.get("publisher"), "publisher")),
        country=country,
        published_on=_field(label, where, "published_on", lambda: _date(entry.get("published_on"), "published_on")),
        period_start=_field(
            label, where, "period_start", lambda: _date(entry.get("period_start"), "period_start", False)
        ),
        period_end=_field(label, where, "period_end", lambda: _date(entry.get("period_end"), "period_end", False)),
        rating=_field(label, where, "rating", lambda: validation.text(entry.get("rating"), "rating", required=False)),
        url=_field(
            label, where, "url", lambda: validation.text(entry.get("url"), "url", required=False, max_length=2000)
        ),
        complete=complete,
        recommendations=tuple(recommendations),
    )


def _recommendation(entry: Any, label: str, where: str) -> RecommendationSpec:
    _only(entry, {*_RECOMMENDATION_FIELDS, "agencies", "indicators", "continues"}, label, where)
    code = _field(label, where, "code", lambda: validation.code(entry.get("code")))
    where = f"{where} ({code})"
    position = entry.get("position")
    if position is not None and (not isinstance(position, int) or isinstance(position, bool) or position < 1):
        raise InputError(f"catalog file {label}: {where}: field 'position': use a whole number from 1, or null")
    owners = entry.get("agencies") or {}
    if not isinstance(owners, dict):
        raise InputError(f"catalog file {label}: {where}: field 'agencies': use {{lead: CODE, support: [CODE...]}}")
    _only(owners, {"lead", "support"}, label, f"{where}.agencies")
    support = owners.get("support") or []
    if isinstance(support, str):
        support = [support]
    indicators = [
        _indicator(spec, label, f"{where}.indicators[{index}]")
        for index, spec in enumerate(_list(entry, "indicators", label, where))
    ]
    return RecommendationSpec(
        code=code,
        position=position,
        title=_field(label, where, "title", lambda: validation.text(entry.get("title"), "title")),
        text=_field(label, where, "text", lambda: validation.long_text(entry.get("text"), "text")),
        text_status=_field(
            label,
            where,
            "text_status",
            lambda: validation.choice(entry.get("text_status", "verbatim"), TextStatus, "text_status"),
        ),
        note=_field(label, where, "note", lambda: validation.long_text(entry.get("note"), "note", required=False)),
        pillar=_field(label, where, "pillar", lambda: validation.choice(entry.get("pillar"), Pillar, "pillar")),
        due_on=_field(label, where, "due_on", lambda: _date(entry.get("due_on"), "due_on", False, future=True)),
        lead=_field(
            label,
            where,
            "agencies.lead",
            lambda: validation.code(owners["lead"], "lead") if owners.get("lead") else None,
        ),
        support=_field(label, where, "agencies.support", lambda: tuple(validation.code(s, "support") for s in support)),
        indicators=tuple(indicators),
        continues=tuple(
            _continues(spec, label, f"{where}.continues[{index}]")
            for index, spec in enumerate(_list(entry, "continues", label, where))
        ),
    )


def _continues(entry: Any, label: str, where: str) -> ContinuesSpec:
    _only(entry, {"ref", "relation", "note"}, label, where)

    def earlier() -> tuple[str, str]:
        ref = entry.get("ref")
        if not isinstance(ref, str) or ref.count("/") != 1:
            raise InputError("write the earlier recommendation as SOURCE/CODE, e.g. tip-2018-khm/labor-inspections")
        source, _, code = ref.strip().partition("/")
        return validation.code(source, "source"), validation.code(code, "code")

    source, code = _field(label, where, "ref", earlier)
    return ContinuesSpec(
        source=source,
        code=code,
        relation=_field(
            label, where, "relation", lambda: validation.choice(entry.get("relation"), Relation, "relation")
        ),
        note=_field(label, where, "note", lambda: validation.long_text(entry.get("note"), "note", required=False)),
    )


def _indicator(spec: Any, label: str, where: str) -> IndicatorSpec:
    _only(spec, set(_INDICATOR_FIELDS), label, where)
    return IndicatorSpec(
        code=_field(label, where, "code", lambda: validation.code(spec.get("code"))),
        name=_field(label, where, "name", lambda: validation.text(spec.get("name"), "name")),
        unit=_field(label, where, "unit", lambda: validation.text(spec.get("unit"), "unit", max_length=200)),
        direction=_field(
            label, where, "direction", lambda: validation.choice(spec.get("direction", "up"), Direction, "direction")
        ),
        target=_field(label, where, "target", lambda: validation.number(spec.get("target"), "target", required=False)),
    )


def _date(value: Any, name: str, required: bool = True, future: bool = False) -> date | None:
    if value is None:
        if required:
            raise InputError(f"{name} is required: write it as YYYY-MM-DD")
        return None
    if isinstance(value, date):
        value = value.isoformat()
    return parse_date(str(value), field=name, allow_future=future)


def _field(label: str, where: str, name: str, check):
    try:
        return check()
    except InputError as error:
        raise InputError(f"catalog file {label}: {where}: field {name!r}: {error}") from None


def _list(entry: dict, key: str, label: str, where: str) -> list:
    value = entry.get(key) or []
    if not isinstance(value, list):
        raise InputError(f"catalog file {label}: {where}: field {key!r}: expected a list")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise InputError(f"catalog file {label}: {where}: {key}[{index}]: expected a mapping")
    return value


def _only(entry: Any, allowed: set[str], label: str, where: str) -> None:
    if not isinstance(entry, dict):
        raise InputError(f"catalog file {label}: {where}: expected a mapping")
    unknown = sorted(set(map(str, entry)) - allowed)
    if unknown:
        raise InputError(
            f"catalog file {label}: {where}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


# Comparing and loading ---------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """An attribute a catalog gives otherwise than the database has it now (corrections applied).

    ``target`` and ``key`` name the record as :data:`tracker.corrections.TARGETS` does;
    ``names`` as the writers of corrections name it: ``(REF,)``, ``(CODE,)`` or, for an
    assignment, ``(REF, AGENCY)``.
    """

    target: str
    key: tuple[int, ...]
    names: tuple[str, ...]
    record: str
    field: str
    stored: Any
    wanted: Any

    @property
    def correctable(self) -> bool:
        spec = corrections.TARGETS.get(self.target)
        return spec is not None and self.field in spec.fields

    def describe(self) -> str:
        return f"{self.record} {self.field} {_brief(self.stored)} -> {_brief(self.wanted)}"


def _brief(value: Any, limit: int = 60) -> str:
    """A value on one line, long texts cut short."""
    shown = " ".join(corrections.shown(value).split())
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def differences(session: Session, catalog: Catalog) -> list[Difference]:
    """What the catalog gives otherwise than the database has it now, in the file's order.

    Entries the database lacks are not differences (loading adds them). A value the record
    had before a correction changed it is not one either: the correction supersedes it (so
    the file a record was first loaded from still loads after the record is corrected).
    An assignment a correction removed stays removed.
    """
    known = corrections.load(session)
    found: list[Difference] = []

    def compare(
        target: str, row: Any, key: tuple[int, ...], names: tuple[str, ...], record: str, wanted: dict[str, Any]
    ) -> None:
        stored = {name: getattr(row, name) for name in wanted}
        now = known.apply(target, key, stored)
        for name, value in wanted.items():
            earlier = [stored[name], *(item.changes[name] for item in known.of(target, key) if name in item.changes)]
            if now[name] != value and value not in earlier:
                found.append(Difference(target, key, names, record, name, now[name], value))

    agencies = {agency.code: agency for agency in session.scalars(select(Agency))}
    for code, name in catalog.agencies:
        if code in agencies:
            compare("agency", agencies[code], (agencies[code].id,), (code,), f"agency {code}", {"name": name})
    indicators = {indicator.code: indicator for indicator in session.scalars(select(Indicator))}
    for spec in catalog.sources:
        source = session.scalars(select(Source).where(Source.slug == spec.slug)).first()
        stored_recs: dict[str, Recommendation] = {}
        if source is not None:
            compare("source", source, (source.id,), (spec.slug,), f"source {spec.slug}", _source_values(spec))
            stored_recs = {
                rec.code: rec
                for rec in session.scalars(select(Recommendation).where(Recommendation.source_id == source.id))
            }
        for rec_spec in spec.recommendations:
            ref = f"{spec.slug}/{rec_spec.code}"
            rec = stored_recs.get(rec_spec.code)
            if rec is not None:
                values = _recommendation_values(rec_spec)
                del values["code"]
                compare("recommendation", rec, (rec.id,), (ref,), f"rec {ref}", values)
                for code, role in _owners(rec_spec):
                    if code not in agencies:
                        continue
                    key = (rec.id, agencies[code].id)
                    link = session.get(RecommendationAgency, key)
                    if link is not None and known.present("recommendation_agency", key):
                        compare(
                            "recommendation_agency",
                            link,
                            key,
                            (ref, code),
                            f"assignment {code} on {ref}",
                            {"role": role},
                        )
                for earlier in rec_spec.continues:
                    continuation = editions.continuation(session, rec.id, earlier.source, earlier.code)
                    if continuation is not None and known.present("continuation", (continuation.id,)):
                        compare(
                            "continuation",
                            continuation,
                            (continuation.id,),
                            (ref, earlier.ref),
                            f"continuation of {earlier.ref} by {ref}",
                            {"relation": earlier.relation, "note": earlier.note},
                        )
            for ind_spec in rec_spec.indicators:
                indicator = indicators.get(ind_spec.code)
                if indicator is None:
                    continue
                names, record = (ind_spec.code,), f"indicator {ind_spec.code}"
                if rec is None or indicator.recommendation_id != rec.id:
                    owner = _ref_of(session, indicator.recommendation_id)
                    found.append(Difference("indicator", (indicator.id,), names, record, "recommendation", owner, ref))
                values = _indicator_values(ind_spec)
                del values["code"]
                compare("indicator", indicator, (indicator.id,), names, record, values)
    return found


def refusal(catalog: Catalog, found: list[Difference], *, applying: bool = False) -> Conflict:
    """The error that refuses a catalog for its differences (``applying``: as corrections, those
    that cannot be)."""
    fixed = [difference for difference in found if not difference.correctable]
    keep = "give the entry a new code, or correct the file"
    if applying:
        listed = "; ".join(difference.describe() for difference in fixed)
        return Conflict(
            f"catalog {catalog.name} differs from what is stored in what a correction cannot change: {listed}: "
            f"nothing was written ({keep})"
        )
    listed = "; ".join(
        difference.describe() + ("" if difference.correctable else " (not correctable)") for difference in found
    )
    record = "as corrections with --apply-corrections --reason TEXT"
    if not fixed:
        hint = f"record them {record}"
    elif len(fixed) == len(found):
        hint = f"nothing was loaded ({keep})"
    else:
        hint = f"nothing was loaded (record the others {record}; for those not correctable, {keep})"
    return Conflict(f"catalog {catalog.name} differs from what is stored: {listed}: {hint}")


def load(session: Session, catalog: Catalog, actor: str) -> LoadSummary:
    """Add what the catalog has and the database lacks; refuse the catalog if it gives anything
    otherwise than the database has it now (:func:`differences`)."""
    found = differences(session, catalog)
    if found:
        raise refusal(catalog, found)
    summary = LoadSummary(catalog=catalog.name)
    created: dict[str, list] = {
        name: []
        for name in ("agency", "source", "recommendation", "recommendation_agency", "indicator", "continuation")
    }
    published = dict(session.execute(select(Source.slug, Source.published_on)).all())
    published.update({spec.slug: spec.published_on for spec in catalog.sources})
    agencies = {agency.code: agency for agency in session.scalars(select(Agency))}
    for code, name in catalog.agencies:
        if code not in agencies:
            agencies[code] = Agency(code=code, name=name)
            session.add(agencies[code])
            created["agency"].append(agencies[code])
    session.flush()

    for spec in catalog.sources:
        source = session.scalars(select(Source).where(Source.slug == spec.slug)).first()
        if source is None:
            source = Source(**_source_values(spec))
            session.add(source)
            session.flush()
            created["source"].append(source)
        stored_recs = {
            rec.code: rec
            for rec in session.scalars(select(Recommendation).where(Recommendation.source_id == source.id))
        }
        for rec_spec in spec.recommendations:
            rec = stored_recs.get(rec_spec.code)
            if rec is None:
                rec = Recommendation(source_id=source.id, **_recommendation_values(rec_spec))
                session.add(rec)
                session.flush()
                created["recommendation"].append(rec)
            stored_owners = set(
                session.scalars(
                    select(RecommendationAgency.agency_id).where(RecommendationAgency.recommendation_id == rec.id)
                )
            )
            where = f"catalog file {catalog.name}: recommendation {spec.slug}/{rec_spec.code}"
            named: set[str] = set()
            for code, role in _owners(rec_spec):
                agency = agencies.get(code)
                if agency is None:
                    raise InputError(f"{where}: agency {code!r} is neither in the file's agencies nor in the database")
                if code in named:
                    raise InputError(f"{where}: agency {code!r} is named twice: give it once, as lead or support")
                named.add(code)
                if agency.id not in stored_owners:
                    link = RecommendationAgency(recommendation_id=rec.id, agency_id=agency.id, role=role)
                    session.add(link)
                    stored_owners.add(agency.id)
                    created["recommendation_agency"].append(link)
            stored_links = {
                (link.earlier_source, link.earlier_code)
                for link in session.scalars(select(Continuation).where(Continuation.recommendation_id == rec.id))
            }
            for earlier in rec_spec.continues:
                day = published.get(earlier.source)
                if day is not None and day >= spec.published_on:
                    raise InputError(
                        f"{where}: continues {earlier.ref}, of an edition published on {day}, not before "
                        f"this one ({spec.published_on}): a recommendation continues one of an earlier edition"
                    )
                if (earlier.source, earlier.code) not in stored_links:
                    continuation = Continuation(
                        recommendation_id=rec.id,
                        earlier_source=earlier.source,
                        earlier_code=earlier.code,
                        relation=earlier.relation,
                        note=earlier.note,
                    )
                    session.add(continuation)
                    stored_links.add((earlier.source, earlier.code))
                    created["continuation"].append(continuation)
            for ind_spec in rec_spec.indicators:
                if session.scalars(select(Indicator.id).where(Indicator.code == ind_spec.code)).first() is None:
                    indicator = Indicator(recommendation_id=rec.id, **_indicator_values(ind_spec))
                    session.add(indicator)
                    created["indicator"].append(indicator)
    session.flush()
    summary.added = {name: len(rows) for name, rows in created.items()}
    if summary.changed:
        Chain(session, actor).append("catalog.load", created, catalog=_catalog_label(catalog.name))
    return summary


def _source_values(spec: SourceSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in _SOURCE_FIELDS}


def _recommendation_values(spec: RecommendationSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in _RECOMMENDATION_FIELDS}


def _indicator_values(spec: IndicatorSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in _INDICATOR_FIELDS}


def _owners(spec: RecommendationSpec) -> list[tuple[str, Role]]:
    """The agencies a recommendation names: its lead, then its support."""
    owners = [(spec.lead, Role.LEAD)] if spec.lead else []
    return owners + [(code, Role.SUPPORT) for code in spec.support]


def _ref_of(session: Session, rec_id: int) -> str:
    slug, code = session.execute(
        select(Source.slug, Recommendation.code).join(Source).where(Recommendation.id == rec_id)
    ).one()
    return f"{slug}/{code}"


def _catalog_label(name: str) -> str:
    return name if name in builtin_names() else Path(name).name
