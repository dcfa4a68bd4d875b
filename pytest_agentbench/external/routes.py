"""What the recording proxy serves to an agent, and why only that.

The proxy holds the model server's real API key, so whatever it forwards is model work (or a view
of the server) the attempt gets. It serves two endpoints:

* ``POST /v1/chat/completions``: the agent's conversation. Each request costs one turn of the
  attempt's budget, reserved before it is forwarded (``record.py``).
* ``GET /v1/models``: OpenAI clients may list the models at start-up to check their base URL. It
  costs no turn; the server is asked once per run and later listings get the same answer.

Both also without the ``/v1`` prefix, for a base URL given without it. The request target is
normalised before routing (query string, fragment, repeated and trailing slashes, an absolute-form
``http://host/...`` target), so no spelling of the chat path slips past the count. What goes
upstream is always the proxy's own URL for the endpoint, never the agent's path or query string,
with only the headers the proxy sets.

What real agents need: mini-swe-agent and Aider reach the model through litellm's ``openai/``
provider, which calls the OpenAI SDK's ``chat.completions.create``, i.e. ``POST
{base_url}/chat/completions``, streamed (Aider, by default) or not (mini-swe-agent). Neither calls
anything else at the base URL: litellm's model metadata is bundled, and Aider fetches its own from
GitHub, never from the base URL (tests/test_real_agents.py runs both through this proxy). The
project's own agent (``python -m pytest_agentbench.agent``) and plain OpenAI clients do the same.

Everything else is refused with an OpenAI-style JSON error and never forwarded: an unknown path
gets 404 (among them the legacy ``/v1/completions``, ``/v1/embeddings`` and ``/v1/responses``: no
agent above needs them, and each would need a count of its own), a served path asked with another
method gets 405. An agent that needs one of them fails loudly at its first request instead of
doing model work the record does not hold. So does a chat request the proxy cannot count as one
turn: a body that is not a JSON object, or one asking for several completions (``n``, ``best_of``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CHAT, MODELS = "chat", "models"
_SERVED = {"/v1/chat/completions": ("POST", CHAT), "/chat/completions": ("POST", CHAT),
           "/v1/models": ("GET", MODELS), "/models": ("GET", MODELS)}
SERVED = "POST /v1/chat/completions and GET /v1/models"


@dataclass(frozen=True)
class Route:
    """Where a request goes: ``endpoint`` (CHAT or MODELS), or None with the refusal's status."""

    endpoint: str | None
    status: int = 200
    message: str = ""
    allow: str | None = None  # the method the path is served with (the 405's Allow header)


def normalise(target: str) -> str:
    """The path of a request target, as routing sees it: ``/v1/chat/completions`` for
    ``/v1//chat/completions/?x=1`` or ``http://host/v1/chat/completions``."""
    if target.startswith(("http://", "https://")):  # the absolute form, as clients send to a proxy
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    path = target.split("?", 1)[0].split("#", 1)[0]
    return re.sub("/{2,}", "/", path).rstrip("/") or "/"


def route(method: str, target: str) -> Route:
    path = normalise(target)
    served = _SERVED.get(path)
    if served is None:
        return Route(None, 404, f"{path[:200]} is not served by the agentbench proxy (it serves {SERVED})")
    allowed, endpoint = served
    if method != allowed:
        return Route(None, 405, f"{method} {path} is not served by the agentbench proxy (it serves {SERVED})",
                     allowed)
    return Route(endpoint)


def chat_problem(request: Any) -> str | None:
    """Why a chat request cannot be forwarded as one turn, or None."""
    if not isinstance(request, dict):
        return "the request body is not a JSON object"
    for key in ("n", "best_of"):
        if request.get(key) not in (None, 1):
            return f"{key}={request[key]!r}: one completion per request (each request is one turn of the budget)"
    return None
