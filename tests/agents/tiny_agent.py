"""A tiny OpenAI-compatible coding agent (standard library only), run by the external-agent tests
as a real program: it asks the model at $OPENAI_BASE_URL, runs the `write_file` / `shell` calls it
gets in its working directory, and stops at a reply without tool calls or on an HTTP error."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

TOOLS = [{"type": "function", "function": {"name": name, "description": name, "parameters": {
    "type": "object", "properties": properties, "required": list(properties)}}}
    for name, properties in (("write_file", {"path": {"type": "string"}, "content": {"type": "string"}}),
                             ("shell", {"command": {"type": "string"}}))]


def ask(messages):
    request = urllib.request.Request(
        os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions",
        json.dumps({"model": os.environ.get("AGENT_MODEL", "m"), "messages": messages, "tools": TOOLS,
                    "stream": os.environ.get("AGENT_STREAM") == "1"}).encode(),
        {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = response.read()
    if os.environ.get("AGENT_STREAM") == "1":
        text, calls = "", {}
        for line in raw.decode().splitlines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                choices = json.loads(line[5:])["choices"]  # the usage chunk has none
                delta = (choices[0].get("delta") or {}) if choices else {}
                text += delta.get("content") or ""
                for part in delta.get("tool_calls") or []:
                    call = calls.setdefault(part["index"], {"id": part.get("id"), "type": "function",
                                                            "function": {"name": "", "arguments": ""}})
                    call["function"]["name"] += part.get("function", {}).get("name") or ""
                    call["function"]["arguments"] += part.get("function", {}).get("arguments") or ""
        return {"role": "assistant", "content": text, "tool_calls": [calls[i] for i in sorted(calls)]}
    return json.loads(raw)["choices"][0]["message"]


def main():
    messages = [{"role": "user", "content": sys.argv[1]}]
    for _ in range(100):
        try:
            message = ask(messages)
        except urllib.error.HTTPError as exc:
            print(f"model error {exc.code}: {exc.read()[:200]!r}")
            return 2
        messages.append(message)
        if not message.get("tool_calls"):
            print(message.get("content"))
            return 0
        for call in message["tool_calls"]:
            arguments = json.loads(call["function"]["arguments"])
            if call["function"]["name"] == "write_file":
                with open(arguments["path"], "w") as handle:
                    handle.write(arguments["content"])
                output = "ok"
            else:
                output = subprocess.run(arguments["command"], shell=True, capture_output=True, text=True).stdout
            messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": output})
    return 1


if __name__ == "__main__":
    sys.exit(main())
