"""Optional theme names from a large language model (``themes.namer: llm``).

The model is reached through an OpenAI-compatible chat-completions endpoint (Ollama, a
llama.cpp server, vLLM or a hosted API) set in ``themes.llm``; only the standard library's
:mod:`urllib` is used. It sees a theme's keyphrases (:mod:`themekit.naming`) and a few of its
quotes, nothing else; the prompts are the two templates in ``themekit/prompts/``. Nothing is
sent unless ``themes.llm.allow_remote: true``: quotes leave themekit, whether the endpoint runs
on the same machine or not. Each theme keeps the request and the reply
(``CandidateTheme.llm``, written to ``themes.json`` in the run folder) and its keyphrase name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from themekit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from themekit.config.themes import LLMNamerConfig, ThemesConfig
    from themekit.describe import CandidateTheme

logger = logging.getLogger(__name__)

PROMPTS = Path(__file__).resolve().parent / "prompts"
SYSTEM_PROMPT = PROMPTS / "name_theme.system.txt"
USER_PROMPT = PROMPTS / "name_theme.user.txt"
#: Longest quote shown to the model, in characters.
MAX_QUOTE_CHARS = 400


def check_llm_config(themes: ThemesConfig) -> None:
    """Fail before any work when ``themes.namer: llm`` cannot be used as configured. Sends
    nothing."""
    if themes.namer != "llm":
        return
    llm = themes.llm
    if not llm.endpoint:
        raise ConfigError(
            "themes.namer is 'llm' but no endpoint is set: give the base URL of an "
            "OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1 (Ollama)",
            key="themes.llm.endpoint",
        )
    if not re.match(r"^https?://[^/\s]+", llm.endpoint):
        raise ConfigError(
            f"expected an http:// or https:// URL, got {llm.endpoint!r}", key="themes.llm.endpoint"
        )
    if not llm.model:
        raise ConfigError(
            "themes.namer is 'llm' but no model is set: give the model name the endpoint serves",
            key="themes.llm.model",
        )
    if not llm.allow_remote:
        raise ConfigError(
            f"themes.namer is 'llm': each theme's keyphrases and up to {llm.n_quotes} quotes "
            f"would be sent to {llm.endpoint}, and sending is not allowed. Nothing was sent. "
            "Set themes.llm.allow_remote: true to allow it, or themes.namer: keyphrase to name "
            "the themes offline",
            key="themes.llm.allow_remote",
        )
    if llm.api_key_env and not os.environ.get(llm.api_key_env):
        raise ConfigError(
            f"the environment variable {llm.api_key_env} (the API key) is not set",
            key="themes.llm.api_key_env",
        )


class LLMNamer:
    """Names themes through an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        endpoint: str,
        model: str,
        *,
        api_key: str | None = None,
        temperature: float = 0.0,
        timeout: float = 120.0,
        n_quotes: int = 3,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.api_key = api_key
        self.temperature = temperature
        self.timeout = timeout
        self.n_quotes = n_quotes

    @classmethod
    def from_config(cls, llm: LLMNamerConfig) -> LLMNamer:
        if not llm.endpoint or not llm.model:
            raise ConfigError("themes.llm needs an endpoint and a model", key="themes.llm")
        return cls(
            llm.endpoint,
            llm.model,
            api_key=os.environ.get(llm.api_key_env) if llm.api_key_env else None,
            temperature=llm.temperature,
            timeout=llm.timeout,
            n_quotes=llm.n_quotes,
        )

    # -- HTTP ------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.endpoint.rstrip("/") + path

    def _open(self, req: urllib.request.Request) -> Any:
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")[:300]
            raise ConfigError(
                f"the endpoint {req.full_url} answered HTTP {exc.code}: {body}",
                key="themes.llm.endpoint",
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(
                f"the endpoint {self.endpoint} could not be reached ({reason}); is the server "
                "running at that address?",
                key="themes.llm.endpoint",
            ) from None
        except json.JSONDecodeError:
            raise ConfigError(
                f"the endpoint {req.full_url} did not answer with JSON: is it an "
                "OpenAI-compatible API (the part of the URL before /chat/completions)?",
                key="themes.llm.endpoint",
            ) from None

    def ping(self) -> None:
        """Check that the endpoint answers (``GET /models``; sends no data). Raises
        :class:`ConfigError` naming the endpoint when it cannot be reached; a server without
        ``/models`` passes."""
        try:
            self._open(urllib.request.Request(self._url("/models"), method="GET"))
        except ConfigError as exc:
            if "could not be reached" in str(exc):
                raise

    def chat(self, messages: list[dict[str, str]]) -> tuple[dict[str, Any], str]:
        """POST one chat-completions request; the payload sent and the reply's text."""
        payload = {"model": self.model, "messages": messages, "temperature": self.temperature}
        req = urllib.request.Request(
            self._url("/chat/completions"),
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        reply = self._open(req)
        try:
            text = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ConfigError(
                f"the endpoint {self.endpoint} answered without choices[0].message.content: "
                f"{json.dumps(reply)[:300]}",
                key="themes.llm.endpoint",
            ) from None
        return payload, str(text)

    # -- prompts and replies ---------------------------------------------------------------
    def messages(self, theme: CandidateTheme) -> list[dict[str, str]]:
        """The system and user messages for one theme (templates in ``themekit/prompts/``)."""
        by_lang = theme.keyphrases_by_language
        quotes = [q.text for q in theme.quotes[: self.n_quotes]]
        user = Template(USER_PROMPT.read_text(encoding="utf-8")).substitute(
            size=theme.size,
            keyphrases_ms=", ".join(by_lang.get("ms", [])) or "(none)",
            keyphrases_en=", ".join(by_lang.get("en", [])) or "(none)",
            quotes="\n".join(f'- "{_clip(q)}"' for q in quotes) or "(none)",
        )
        return [
            {"role": "system", "content": SYSTEM_PROMPT.read_text(encoding="utf-8").strip()},
            {"role": "user", "content": user.strip()},
        ]

    def name(self, themes: Sequence[CandidateTheme]) -> None:
        """Name each theme (outliers excepted) in place: ``label``, ``name_by_language``,
        ``description``, and ``llm`` with the request, the reply and the keyphrase name."""
        for theme in themes:
            if theme.id == -1:
                continue
            payload, text = self.chat(self.messages(theme))
            record: dict[str, Any] = {
                "endpoint": self.endpoint,
                "model": self.model,
                "request": payload,
                "response": text,
                "keyphrase_name": theme.label,
            }
            parsed = parse_reply(text)
            if parsed is None:
                logger.warning(
                    "theme %d: the model's reply is not the JSON asked for; the keyphrase name "
                    "%r is kept",
                    theme.id,
                    theme.label,
                )
                record["error"] = "reply is not the JSON object asked for"
            else:
                by_lang, description = parsed
                theme.name_by_language = by_lang
                theme.label = " / ".join(by_lang[g] for g in ("ms", "en") if g in by_lang)
                if description:
                    theme.description = description
            theme.llm = record


def parse_reply(text: str) -> tuple[dict[str, str], str] | None:
    """``({"ms": ..., "en": ...}, description)`` from a reply holding the JSON object asked
    for (code fences and text around it allowed), or None."""
    m = re.search(r"\{.*\}", text, flags=re.S)
    if not m:
        return None
    try:
        obj = json.loads(m.group())
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    by_lang = {
        g: " ".join(str(obj[k]).split())
        for g, k in (("ms", "name_ms"), ("en", "name_en"))
        if isinstance(obj.get(k), str) and obj[k].strip()
    }
    if not by_lang:
        return None
    desc = obj.get("description")
    return by_lang, " ".join(desc.split()) if isinstance(desc, str) else ""


def _clip(text: str) -> str:
    text = " ".join(text.split()).replace('"', "'")
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"
