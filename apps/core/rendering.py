"""The one place untrusted text becomes HTML.

Prompts, responses, rationales and guidelines are written by models or by other
people. Plain text is always auto-escaped by templates; Markdown goes through
markdown-it-py with raw HTML disabled, then nh3 (Ammonia) with an allow-list.

Model text (prompts and responses) is rendered with offsets: every run of its text
that is a verbatim piece of the raw text sits in an element with `data-o`, the piece's
start in the raw text counted in code points (as Python counts). Span marking
(static/js/model-text.js) maps a selection in the rendered page back to raw offsets with
them, and marks stored spans on the rendered text. Text that is not verbatim (an
entity, a backslash escape, a line break) carries no offset.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import markdown_it
import nh3
from django.core.cache import cache
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.token import Token

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}
# Model text also keeps the offsets its own renderer writes (raw HTML is off, so the
# text itself cannot write a span or an attribute).
_MODEL_TAGS = _ALLOWED_TAGS | {"span"}
_MODEL_ATTRIBUTES = _ALLOWED_ATTRIBUTES | {"code": {"class", "data-o"}, "span": {"data-o"}}
# Model text is cached per content: the workbench renders the same responses again for
# every annotator of a comparison. In this process (texts up to a size), then in the
# shared cache, under a key that changes with this module and the libraries' versions.
_RENDER_VERSION = hashlib.sha256(
    Path(__file__).read_bytes() + f"{markdown_it.__version__} {nh3.__version__}".encode()
).hexdigest()[:16]
_CACHE_SIZE = 512
_CACHE_SECONDS = 7 * 24 * 3600
_PROCESS_CACHE_MAX_CHARS = 50_000
# Longer texts are shown raw: Markdown renders at about 2 ms per thousand characters.
MARKDOWN_MAX_CHARS = 100_000

logger = logging.getLogger(__name__)


def _clean(html: str, *, tags: set[str], attributes: dict[str, set[str]]) -> SafeString:
    clean = nh3.clean(
        html,
        tags=tags,
        attributes=attributes,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # "js-default" is CommonMark with raw HTML off and safe link validation.
    return MarkdownIt("js-default").enable("table").enable("strikethrough")


def render_markdown(text: str) -> SafeString:
    """Render untrusted Markdown to sanitised HTML that is safe to insert in a page."""
    html = _markdown().render(text or "")
    return _clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES)


# ------------------------------------------------------------------ model text, with offsets

Rules = Sequence[Token]


def _anchor(text: str, env: dict[str, Any]) -> str:
    """`text` escaped, in a `data-o` span when it is found verbatim in the raw text after
    what was placed already; else line by line (a code block whose lines were indented
    or ended in CRLF), else without an offset."""
    if not text:
        return ""
    found = env["raw"].find(text, env["at"])
    if found >= 0:
        env["at"] = found + len(text)
        return f'<span data-o="{found}">{escape(text)}</span>'
    if "\n" in text:
        return "\n".join(_anchor(line, env) for line in text.split("\n"))
    return escape(text)


def _skip(env: dict[str, Any], markup: str) -> None:
    """Move past `markup` (a backslash escape, an entity) when it comes next."""
    found = env["raw"].find(markup, env["at"])
    if 0 <= found <= env["at"] + 8:
        env["at"] = found + len(markup)


def _skip_destination(env: dict[str, Any]) -> None:
    """After a link's text: move past `](destination "title")`, so that the text after the
    link is not found inside its address."""
    raw, at = env["raw"], env["at"]
    while at < len(raw) and raw[at] in "*_~`":
        at += 1
    if not raw.startswith("](", at):
        return
    depth = 0
    for index in range(at + 1, len(raw)):
        if raw[index] == "(":
            depth += 1
        elif raw[index] == ")":
            depth -= 1
            if depth == 0:
                env["at"] = index + 1
                return
        elif raw[index] == "\n" and raw[index - 1] == "\n":
            return


def _text(self: Any, tokens: Rules, idx: int, options: Any, env: dict[str, Any]) -> str:
    return _anchor(tokens[idx].content, env)


def _text_special(self: Any, tokens: Rules, idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    _skip(env, token.markup)
    return escape(token.content)


def _code_inline(self: Any, tokens: Rules, idx: int, options: Any, env: dict[str, Any]) -> str:
    return f"<code>{_anchor(tokens[idx].content, env)}</code>"


def _code_block(self: Any, tokens: Rules, idx: int, options: Any, env: dict[str, Any]) -> str:
    return f"<pre><code>{_anchor(tokens[idx].content, env)}</code></pre>\n"


def _fence(self: Any, tokens: Rules, idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    classes = f' class="language-{escape(language)}"' if language else ""
    content = token.content
    found = env["raw"].find(content, env["at"]) if content else -1
    if found >= 0:
        # One offset for the whole block: the highlighter rewrites its inside.
        env["at"] = found + len(content)
        return f'<pre><code{classes} data-o="{found}">{escape(content)}</code></pre>\n'
    return f"<pre><code{classes}>{_anchor(content, env)}</code></pre>\n"


def _link_close(self: Any, tokens: Rules, idx: int, options: Any, env: dict[str, Any]) -> str:
    if tokens[idx].markup != "autolink":
        _skip_destination(env)
    return self.renderToken(tokens, idx, options, env)


@lru_cache(maxsize=1)
def _model_markdown() -> MarkdownIt:
    # Escapes and entities stay tokens of their own (no text_join), so that every text
    # token is a verbatim piece of the raw text.
    md = MarkdownIt("js-default").enable("table").enable("strikethrough")
    md.disable("text_join")
    md.add_render_rule("text", _text)
    md.add_render_rule("text_special", _text_special)
    md.add_render_rule("code_inline", _code_inline)
    md.add_render_rule("code_block", _code_block)
    md.add_render_rule("fence", _fence)
    md.add_render_rule("link_close", _link_close)
    return md


def _render_model_text(text: str) -> SafeString:
    html = _model_markdown().render(text, {"raw": text, "at": 0})
    return _clean(html, tags=_MODEL_TAGS, attributes=_MODEL_ATTRIBUTES)


@lru_cache(maxsize=_CACHE_SIZE)
def _render_model_text_in_process(text: str) -> SafeString:
    return _render_model_text_shared(text)


def _render_model_text_shared(text: str) -> SafeString:
    key = f"model-text:{_RENDER_VERSION}:{hashlib.sha256(text.encode()).hexdigest()}"
    html = _cache_quietly(lambda: cache.get(key))
    if isinstance(html, str):
        return mark_safe(html)  # noqa: S308 - stored below, after sanitising
    rendered = _render_model_text(text)
    _cache_quietly(lambda: cache.set(key, str(rendered), timeout=_CACHE_SECONDS))
    return rendered


def _cache_quietly(call: Callable[[], Any]) -> Any:
    """A cache call that falls back to rendering when the cache is down."""
    try:
        return call()
    except Exception:
        logger.warning("cache unavailable for rendered model text", exc_info=True)
        return None


def render_model_text(text: str) -> SafeString:
    """Untrusted model output (a response, a prompt) as sanitised Markdown HTML whose
    verbatim text runs carry their offset in `text` (`data-o`, in code points)."""
    text = text or ""
    if len(text) > _PROCESS_CACHE_MAX_CHARS:
        return _render_model_text_shared(text)
    return _render_model_text_in_process(text)


def render_raw_text(text: str) -> SafeString:
    """Untrusted text as it is, escaped, in one run at offset 0. Carriage returns are
    written as `&#13;`: an HTML parser turns a raw CR into LF, and offsets count it."""
    if not text:
        return mark_safe("")  # an empty element: CSS says "(empty response)"
    escaped = escape(text).replace("\r", "&#13;")
    return mark_safe(f'<span data-o="0">{escaped}</span>')  # noqa: S308 - escaped just above
