"""Conversation context for the crisis gate: the last user turns read together.

Crisis signals often span turns ("I'm giving my things away" ... "I won't need them after
this week"): each message alone is ambiguous, the two together are not. The guard scores
every message on its own and also the last `CONTEXT_TURNS` user messages joined, and the
training rows written as conversations are scored the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CONTEXT_TURNS = 3


def message_text(content: Any) -> str:
    """A chat message's text: a string, or the text parts of a list, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict)
                         and p.get("type") == "text" and isinstance(p.get("text"), str))
    return ""


def user_turns(messages: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """(index, text) of each user message with some text, in order."""
    return [(i, text) for i, m in enumerate(messages)
            if str(m.get("role", "user")) == "user"
            and (text := message_text(m.get("content")).strip())]


def user_context(messages: Sequence[Mapping[str, Any]], turns: int = CONTEXT_TURNS) -> str:
    """The last `turns` user messages, one per line (empty when there are none)."""
    return "\n".join(text for _, text in user_turns(messages)[-turns:])
