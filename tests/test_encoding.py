"""The incremental request encoder produces exactly the JSON of the whole body."""

from __future__ import annotations

import json

from pytest_agentbench.agent.encoding import BodyEncoder, json_text


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


def _plain(body):
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def test_incremental_encoding_is_byte_identical_to_a_plain_encoding():
    """What the loop sends equals ``json.dumps`` of the same body, key order included, turn after
    turn, with the body built afresh each turn around the same history and tool list."""
    encoder = BodyEncoder()
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "héllo \u2028 \"q\""}]
    for turn in range(30):
        body = {"model": "m", "messages": messages, "temperature": 0.0, "max_tokens": 2048,
                "stream": False, "tools": tools, "tool_choice": "auto", "top_k": 40}
        assert encoder.encode(body) == _plain(body)
        messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": f"c{turn}", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}]})
        messages.append({"role": "tool", "tool_call_id": f"c{turn}", "content": f"ünïcode {turn}\n" * turn})


def test_a_changed_body_is_encoded_as_it_now_is():
    encoder = BodyEncoder()
    tools = [{"name": "a"}]
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    encoder.encode({"messages": messages, "tools": tools, "n": 1})
    tools.append({"name": "b"})  # the same list, changed in place
    body = {"messages": messages, "tools": tools, "n": 1}
    assert encoder.encode(body) == _plain(body)
    tools[0]["name"] = "c"  # deeper
    assert encoder.encode(body) == _plain(body)
    messages[1] = {"role": "assistant", "content": "other"}  # a message replaced mid-history
    messages.append({"role": "user", "content": "more"})
    assert encoder.encode(body) == _plain(body)
    shorter = {"tools": tools, "messages": messages[:1], "n": 2}  # other key order, fewer messages
    assert encoder.encode(shorter) == _plain(shorter)
    assert encoder.encode(body) == _plain(body)
    for odd in ({"messages": []}, {"messages": messages, 1: "int key"}, {"messages": "not a list"},
                {"messages": [{"content": "lone \ud800"}]}):
        assert encoder.encode(odd) == json_text(odd, separators=(",", ":")).encode()
