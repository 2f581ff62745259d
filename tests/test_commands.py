"""The command path's tables: the role check is keyed by the frames' wire types."""

from __future__ import annotations

import typing

from rooms_server import client_frames, rooms


def _command_frames() -> list[type]:
    return [f for f in typing.get_args(client_frames.ClientFrame) if f not in (client_frames.Hello, client_frames.Ping)]


def test_commands_admin_only_names_wire_types_of_command_frames() -> None:
    # rooms.require_role(frame.type, role): a name in ADMIN_ONLY that no frame has would never apply.
    assert rooms.ADMIN_ONLY <= {frame.type for frame in _command_frames()}


def test_commands_frame_wire_types_are_unique() -> None:
    types = [frame.type for frame in _command_frames()]
    assert len(types) == len(set(types))
