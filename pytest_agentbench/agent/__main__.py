"""The built-in loop as an external agent:

    python -m pytest_agentbench.agent --base-url URL --model M --prompt-file F [--max-turns N]

runs :class:`~pytest_agentbench.agent.loop.AgentLoop` with the built-in tools in the current
directory and prints its final answer. It has no jail of its own: as a registry agent
(``[agents.builtin-external]``) it already runs inside the attempt's jail, and its traffic goes
through the recording proxy, which keeps the record and enforces the budgets. So one canary can be
run by the same loop in-process (agent ``builtin``) and through the proxy, and the two compared.

Exit status: 0 when the loop ended with a final answer, 1 when it stopped for any other reason
(a budget, malformed calls, a server error), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Budgets the harness enforces (proxy and deadline); the loop's own are only a backstop.
_UNBOUNDED_TOKENS = 10**12
_UNBOUNDED_SECONDS = 10.0**9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_agentbench.agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--model", required=True, help="the model id the server knows")
    parser.add_argument("--prompt-file", required=True, type=Path, help="the task, as text")
    parser.add_argument("--max-turns", type=int, default=1000, help="the loop's own turn limit (default 1000)")
    parser.add_argument("--max-tokens", type=int, default=2048, help="per-response output cap (default 2048)")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"),
                        help="bearer token (default: $OPENAI_API_KEY)")
    args = parser.parse_args(argv)

    from pytest_agentbench.agent.loop import AgentLoop
    from pytest_agentbench.agent.tools import ToolContext
    from pytest_agentbench.schemas.canary import ResolvedBudget
    from pytest_agentbench.servers.client import ChatClient, ClientSettings

    prompt = args.prompt_file.read_text(encoding="utf-8")
    # retries=0: a server fault is the proxy's to record; retrying here would hide nothing from
    # it but would spend the attempt's time.
    client = ChatClient(ClientSettings(base_url=args.base_url, model=args.model, api_key=args.api_key,
                                       max_tokens=args.max_tokens, retries=0))
    budget = ResolvedBudget(turns=args.max_turns, tokens=_UNBOUNDED_TOKENS, seconds=_UNBOUNDED_SECONDS)
    loop = AgentLoop(client=client, context=ToolContext(root=Path.cwd(), env=dict(os.environ)), budget=budget)
    result = loop.run(prompt)
    print(f"agentbench builtin-external: {result.stop_reason}: {result.detail}")
    return 0 if result.stop_reason == "final" else 1


if __name__ == "__main__":
    sys.exit(main())
