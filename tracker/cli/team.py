"""``tracker team ...``: a team's group roles and members on PostgreSQL (see :mod:`tracker.team`)."""

from typing import Annotated

import typer

from tracker.cli import Json, dump_json, out, say, state, team_app

Login = Annotated[str, typer.Argument(metavar="LOGIN", help="A person's database login (CREATE ROLE ... LOGIN).")]
Role = Annotated[
    str,
    typer.Argument(
        metavar="ROLE",
        help="tracker_public, tracker_internal, tracker_confidential, tracker_writer or tracker_admin.",
    ),
]


@team_app.command("setup")
def team_setup() -> None:
    """Create the group roles (if missing) and the privileges, row-level security and authorship
    checks of a team database. Run it as the database's owner or a superuser (`tracker db upgrade`
    runs it again on a team database); running it twice changes nothing."""
    from tracker import team

    database = team.team_database(state.database())
    done = database.write(team.setup)
    say(f"Team database {database.display}:")
    for line in done.describe():
        say(f"  {line}")


@team_app.command("grant")
def team_grant(login: Login, role: Role) -> None:
    """Make LOGIN a member of ROLE (roles are the server's: on every team database of it)."""
    from tracker import team

    granted = team.team_database(state.database()).write(lambda session: team.grant(session, login, role))
    say(f"Granted {role} to {login}" if granted else f"{login} is already a member of {role}; nothing changed")


@team_app.command("revoke")
def team_revoke(login: Login, role: Role) -> None:
    """End LOGIN's membership in ROLE."""
    from tracker import team

    revoked = team.team_database(state.database()).write(lambda session: team.revoke(session, login, role))
    say(f"Revoked {role} from {login}" if revoked else f"{login} is not a member of {role}; nothing changed")


@team_app.command("members")
def team_members(json_output: Json = False) -> None:
    """Every login's group roles, and what each role may do."""
    from tracker import team

    with team.team_database(state.database()).reading() as session:
        rows = [member.as_dict() for member in team.members(session)]
    if json_output:
        return dump_json(rows)
    from tracker.render.terminal import table

    out(table(["login", "role", "may"], [[r["login"], r["role"], r["may"]] for r in rows]) if rows else "No members")
