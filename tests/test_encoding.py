"""The incremental request encoder produces exactly the JSON of the whole body."""

from __future__ import annotations

import json

from pytest_agentbench.agent.encoding import BodyEncoder


def test_incremental_encoding_equals_a_full_encoding_turn_after_turn():
    encoder = BodyEncoder()
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "héllo \u2028"}]
    for turn in range(5):
        body = {"model": "m", "messages": messages, "temperature": 0, "tools": [{"x": turn}]}
        assert json.loads(encoder.encode(body)) == body
        messages.append({"role": "assistant", "content": f"turn {turn}"})
        messages.append({"role": "tool", "tool_call_id": f"c{turn}", "content": "ok"})


def test_a_different_history_is_encoded_afresh():
    encoder = BodyEncoder()
    first = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    encoder.encode({"messages": first})
    second = [first[0], {"role": "assistant", "content": "other"}]  # shares only the first message
    assert json.loads(encoder.encode({"messages": second})) == {"messages": second}
    assert json.loads(encoder.encode({"messages": []})) == {"messages": []}
    assert json.loads(encoder.encode({"n": 1})) == {"n": 1}
