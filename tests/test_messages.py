"""alliance.messages.Msg: the English text everywhere, plus the message id and values a client
page translates; it survives being raised, copied and passed through pydantic."""

from __future__ import annotations

import copy
import json

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from alliance.messages import Msg, message_of


def test_a_msg_is_the_english_sentence_and_keeps_its_id_and_values() -> None:
    msg = Msg("at most {n} characters", n=4000)
    assert msg == "at most 4000 characters"
    assert isinstance(msg, str)
    assert (msg.msgid, dict(msg.params)) == ("at most {n} characters", {"n": 4000})
    assert json.dumps({"detail": msg}) == '{"detail": "at most 4000 characters"}'
    assert f"field: {msg}" == "field: at most 4000 characters"


def test_a_value_with_braces_is_filled_in_not_read_as_a_placeholder() -> None:
    msg = Msg("{value} is not a number", value=repr("{n}"))
    assert msg == "'{n}' is not a number"
    # A copy (as pickling) rebuilds from the id and values, not from the English text.
    again = copy.deepcopy(msg)
    assert again == msg
    assert isinstance(again, Msg)
    assert (again.msgid, dict(again.params)) == (msg.msgid, dict(msg.params))


def test_a_worded_msg_keeps_another_librarys_english_exactly() -> None:
    msg = Msg.worded("Input should be greater than or equal to 0", "must be at least {ge}", ge=0)
    assert msg == "Input should be greater than or equal to 0"
    assert msg.msgid == "must be at least {ge}"
    again = copy.deepcopy(msg)
    assert (again, again.msgid, dict(again.params)) == (msg, msg.msgid, {"ge": 0})


def test_message_of_keeps_a_raised_msg_and_reads_any_other_error_as_text() -> None:
    raised = ValueError(Msg("unknown goal {goal}", goal="'x'"))
    assert isinstance(message_of(raised), Msg)
    # What str() would lose: the copy is a plain str.
    assert type(str(raised)) is str
    plain = message_of(ValueError("plain words"))
    assert plain == "plain words"
    assert not isinstance(plain, Msg)


class _Model(BaseModel):
    x: int

    @field_validator("x")
    @classmethod
    def _small(cls, x: int) -> int:
        if x > 3:
            raise ValueError(Msg("at most {n}", n=3))
        return x


def test_pydantic_keeps_the_raised_msg_in_the_errors_context() -> None:
    with pytest.raises(ValidationError) as caught:
        _Model(x=5)
    error = caught.value.errors()[0]
    found = message_of(error["ctx"]["error"])
    assert isinstance(found, Msg)
    assert found.msgid == "at most {n}"
    assert error["msg"] == "Value error, at most 3"
