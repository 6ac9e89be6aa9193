"""Groups of sub-commands built on first use, listed panel by panel (Click's lazy group pattern).

Typer builds every command's options from its signature before it runs any of them; for
the whole tree that takes longer than the rest of ``tracker --help``. Here ``tracker rec
list`` builds the ``rec`` group only, and the top-level help lists the groups from their
help text without building them.
"""

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup


class HelpWhenAlone(TyperGroup):
    """A group run without a command prints its help on stdout and succeeds.

    (Click's ``no_args_is_help`` ends in a usage error instead: exit code 2.)
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)


class PanelOrder(HelpWhenAlone):
    """List commands panel by panel (``panels``), in creation order within each.

    The groups of sub-commands (``groups``: name to app and panel) are built only when used:
    see :class:`LazyGroups`. A subclass names both.
    """

    panels: tuple[str, ...] = ()
    groups: Mapping[str, tuple[typer.Typer, str]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.lazy = LazyGroups(self.commands, self.groups)
        self.commands = self.lazy

    def list_commands(self, ctx: Any) -> list[str]:
        def panel(name: str) -> int:
            label = getattr(self.lazy.peek(name), "rich_help_panel", None)
            return self.panels.index(label) if label in self.panels else len(self.panels)

        return sorted(self.lazy, key=panel)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Plain help with one section per panel: quick to print, no rich rendering."""
        commands = [(name, self.lazy.peek(name)) for name in self.list_commands(ctx)]
        commands = [(name, command) for name, command in commands if not command.hidden]
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        for label in (*self.panels, "Commands"):
            rows = [
                (name, command.get_short_help_str(limit))
                for name, command in commands
                if (getattr(command, "rich_help_panel", None) or "Commands") == label
            ]
            if rows:
                with formatter.section(label):
                    formatter.write_dl(rows)


class LazyGroups(MutableMapping):
    """The top-level commands, with each group of sub-commands built on first use.

    :meth:`peek` gives a group's name, help and panel without building it. Iterating over
    the items (as the tests that walk every command do) builds everything, as Typer would.
    """

    def __init__(self, built: Mapping[str, Any], groups: Mapping[str, tuple[typer.Typer, str]]) -> None:
        self._built = dict(built)
        self._groups = dict(groups)
        self._order = [*self._built, *(name for name in self._groups if name not in self._built)]

    def __getitem__(self, name: str) -> Any:
        command = self._built.get(name)
        if command is None:
            if name not in self._groups:
                raise KeyError(name)
            sub_app, panel = self._groups[name]
            command = typer.main.get_group(sub_app)
            command.name, command.rich_help_panel = name, panel
            self._built[name] = command
        return command

    def peek(self, name: str) -> Any:
        """The command, or for a group not built yet a stand-in with its name, help and panel."""
        if name in self._built or name not in self._groups:
            return self[name]
        sub_app, panel = self._groups[name]
        return TyperGroup(name=name, help=sub_app.info.help, rich_help_panel=panel)

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._order:
            self._order.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._built.pop(name, None)
        self._groups.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)
