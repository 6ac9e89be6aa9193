"""What one command does across several writers: ``tracker init`` (the schema, then the
catalogs) and ``tracker catalog load`` (a catalog, its differences recorded as corrections
when asked)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tracker import assessors, catalogs, services, validation
from tracker.errors import Conflict, InputError
from tracker.store.database import Database
from tracker.vocab import Role


def init(database: Database, names: Sequence[str] | None, *, actor: str, assessor: str | None = None) -> list[str]:
    """Returns what was done, one line each, for the user. ``assessor``: the default assessor
    to name (``init --assessor CODE``), while there is none."""
    wanted = [catalogs.DEFAULT] if names is None else list(dict.fromkeys(names))
    read = [catalogs.read(name) for name in wanted]  # every file checked before anything is written
    default = None if assessor is None else validation.code(assessor, "--assessor")
    if default is not None:
        _check_assessor(database, default)
    lines = []
    existed = database.exists() and database.current_revision() is not None
    before, after, backup = database.upgrade("head", create=True)
    if backup:
        lines.append(f"Backed up {database.display} to {backup}")
    if not existed:
        lines.append(f"Created the tracker schema (revision {after}) in {database.display}")
    elif before != after:
        lines.append(f"Upgraded the schema of {database.display} from {before} to {after}")
    else:
        lines.append(f"Schema of {database.display} is up to date (revision {after})")
    if read:
        loads = database.write(lambda session: [load_catalog(session, c, actor) for c in read])
        lines.extend(line for loaded in loads for line in loaded.describe())
    if default is not None:
        lines.append(_init_assessor(database, default, actor=actor))
    return lines


def _refuse_another_default(roster: assessors.Roster, wanted: str) -> None:
    """``init --assessor`` names CODE while another assessor is the default: that is a correction."""
    default = roster.default
    if default is not None and default.code != wanted:
        raise Conflict(
            f"{default.code!r} is the default assessor: make {wanted!r} the default with "
            f"`tracker assessor default {wanted} --reason TEXT`"
        )


def _check_assessor(database: Database, wanted: str) -> None:
    """Refuse ``init --assessor`` before ``init`` writes anything (a database already at the current schema)."""
    from tracker.store.database import SCHEMA_REVISION

    if database.exists() and database.current_revision() == SCHEMA_REVISION:
        with database.reading() as session:
            _refuse_another_default(assessors.roster(session), wanted)


def _init_assessor(database: Database, wanted: str, *, actor: str) -> str:
    """CODE becomes the default assessor while there is none (added, named CODE, if new);
    already the default, nothing changes."""

    def work(session: Session) -> str:
        roster = assessors.roster(session)
        _refuse_another_default(roster, wanted)
        if roster.default is not None:
            return f"Assessor {wanted} is the default"
        if any(a.code == wanted for a in roster.assessors):
            raise Conflict(f"make {wanted!r} the default with `tracker assessor default {wanted} --reason TEXT`")
        services.add_assessor(session, wanted, wanted, default=True, actor=actor)
        return f"Added assessor {wanted}, the default (its name: `tracker assessor amend {wanted} --name NAME`)"

    return database.write(work)


@dataclass(frozen=True)
class CatalogLoad:
    """What loading a catalog did: what it added, and the corrections it recorded
    (``corrections`` None: they were not asked for)."""

    summary: catalogs.LoadSummary
    corrections: tuple[services.FieldChange, ...] | None = None

    def describe(self) -> list[str]:
        lines = [self.summary.describe()]
        if self.corrections is not None and not self.corrections:
            lines.append("No corrections were needed: the catalog agrees with what is stored")
        elif self.corrections:
            count = len(self.corrections)
            lines.append(f"Recorded {count} correction{'s' if count != 1 else ''}:")
            lines.extend(change.describe() for change in self.corrections)
        return lines


def load_catalog(
    session: Session,
    catalog: catalogs.Catalog,
    actor: str,
    *,
    apply_corrections: bool = False,
    reason: str | None = None,
) -> CatalogLoad:
    """Load a catalog (:func:`tracker.catalogs.load`). What it gives otherwise than the database
    has it now is refused, every differing field named; with ``apply_corrections`` (and a
    ``reason``) each difference a correction can make is recorded as one, through the writers
    of corrections, and the catalog then loads; any other difference is still refused."""
    if not apply_corrections:
        if reason is not None:
            raise InputError(
                "--reason goes with --apply-corrections: give both to record the catalog's differences "
                "as corrections, or neither"
            )
        return CatalogLoad(catalogs.load(session, catalog, actor))
    if reason is None:
        raise InputError("--apply-corrections needs --reason TEXT: why the catalog's values replace the stored ones")
    reason = validation.long_text(reason, "--reason")
    found = catalogs.differences(session, catalog)
    if any(not difference.correctable for difference in found):
        raise catalogs.refusal(catalog, found, applying=True)
    changes: list[services.FieldChange] = []
    for record in _by_record(found):
        changes += _CORRECT[record[0].target](session, record, reason, actor)
    return CatalogLoad(catalogs.load(session, catalog, actor), tuple(changes))


def _by_record(found: list[catalogs.Difference]) -> list[list[catalogs.Difference]]:
    """The differences of each record, records in the catalog's order, except that an agency is
    made support before another is made lead (so that a swap of lead and support is no second lead)."""
    records: dict[tuple[str, tuple[int, ...]], list[catalogs.Difference]] = {}
    for difference in found:
        records.setdefault((difference.target, difference.key), []).append(difference)
    return sorted(records.values(), key=lambda diffs: any(d.field == "role" and d.wanted == Role.LEAD for d in diffs))


def _correct_recommendation(
    session: Session, diffs: list[catalogs.Difference], reason: str, actor: str
) -> list[services.FieldChange]:
    new = {difference.field: difference.wanted for difference in diffs}
    if "position" in new and new["position"] is None:
        position = next(difference for difference in diffs if difference.field == "position")
        raise Conflict(
            f"{position.describe()}: a correction cannot remove a recommendation's position; "
            "nothing was written (give it a position in the file)"
        )
    return services.amend_recommendation(
        session,
        diffs[0].names[0],
        title=new.get("title"),
        text=new.get("text"),
        pillar=new.get("pillar"),
        due_on=new.get("due_on"),
        no_due="due_on" in new and new["due_on"] is None,
        position=new.get("position"),
        text_status=new.get("text_status"),
        reason=reason,
        actor=actor,
    )


def _correct_indicator(
    session: Session, diffs: list[catalogs.Difference], reason: str, actor: str
) -> list[services.FieldChange]:
    new = {difference.field: difference.wanted for difference in diffs}
    return services.amend_indicator(
        session,
        diffs[0].names[0],
        name=new.get("name"),
        unit=new.get("unit"),
        direction=new.get("direction"),
        target=new.get("target"),
        no_target="target" in new and new["target"] is None,
        reason=reason,
        actor=actor,
    )


def _correct_agency(
    session: Session, diffs: list[catalogs.Difference], reason: str, actor: str
) -> list[services.FieldChange]:
    return services.amend_agency(session, diffs[0].names[0], name=diffs[0].wanted, reason=reason, actor=actor)


def _correct_assignment(
    session: Session, diffs: list[catalogs.Difference], reason: str, actor: str
) -> list[services.FieldChange]:
    ref, agency = diffs[0].names
    return services.assign_agency(session, ref, agency, diffs[0].wanted, reason=reason, actor=actor)


def _correct_continuation(
    session: Session, diffs: list[catalogs.Difference], reason: str, actor: str
) -> list[services.FieldChange]:
    ref, earlier = diffs[0].names
    wanted = {difference.field: difference.wanted for difference in diffs}
    return services.link_recommendation(
        session, ref, earlier, wanted.get("relation"), note=wanted.get("note"), reason=reason, actor=actor
    )


_CORRECT: dict[str, Callable[[Session, list[catalogs.Difference], str, str], list[services.FieldChange]]] = {
    "recommendation": _correct_recommendation,
    "indicator": _correct_indicator,
    "agency": _correct_agency,
    "recommendation_agency": _correct_assignment,
    "continuation": _correct_continuation,
}
