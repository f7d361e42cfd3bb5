from __future__ import annotations

import pytest

from corral.errors import ProtocolError
from corral.protocol import names
from corral.protocol.names import strip


@pytest.mark.parametrize(
    "name",
    [
        "ping",
        "*",
        "compute.instance.activate;agent=12",
        "resource.change;account=1a5",
        "reply.7884953948567153747",
        "storage_pool.activate",
        "a" * 255,
    ],
)
def test_valid_names(name: str) -> None:
    assert names.validate(name) == name
    assert names.is_valid(name)


@pytest.mark.parametrize(
    "name", ["", "a" * 256, "a b", "a-b", "a/b", "ünïcode", "a\n", 5, None, ["a"]]
)
def test_invalid_names(name: object) -> None:
    assert not names.is_valid(name)
    with pytest.raises(ProtocolError) as info:
        names.validate(name, field_name="eventNames")
    assert info.value.field_name == "eventNames"


def test_qualify_for_an_agent_cuts_at_the_first_semicolon() -> None:
    assert names.qualify("compute.instance.activate", agent_id=12) == (
        "compute.instance.activate;agent=12"
    )
    assert names.qualify("a.b;handler=x;agent=3", agent_id="7") == "a.b;agent=7"


def test_qualify_for_an_account() -> None:
    assert names.qualify("resource.change", account_id="1a5") == "resource.change;account=1a5"
    assert names.qualify("resource.change;agent=1", account_id=5) == "resource.change;account=5"


def test_qualify_without_ids_is_raw() -> None:
    assert names.qualify("a.b;handler=x") == "a.b;handler=x"


def test_qualify_rejects_both_ids_and_bad_results() -> None:
    with pytest.raises(ValueError):
        names.qualify("a", agent_id=1, account_id=2)
    with pytest.raises(ProtocolError):
        names.qualify("a", agent_id="not valid")
    with pytest.raises(ProtocolError):
        names.qualify("bad name")


def test_strip() -> None:
    assert strip("compute.instance.activate;agent=12") == "compute.instance.activate"
    assert strip("a;b;c") == "a"
    assert strip("plain") == "plain"


def test_is_reply() -> None:
    assert names.is_reply("reply.123")
    assert not names.is_reply("replyx")
    assert not names.is_reply("compute.reply.1")


def test_new_reply_names_are_positive_integers_and_differ() -> None:
    made = {names.new_reply_name() for _ in range(100)}
    assert len(made) == 100
    for name in made:
        assert names.is_reply(name) and names.is_valid(name)
        assert int(name.removeprefix("reply.")) > 0
