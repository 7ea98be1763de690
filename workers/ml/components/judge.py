"""The rubric judge: an OpenAI-compatible chat endpoint scores each response against a rubric.

The model must answer strict JSON, `{"scores": {"<criterion>": <integer on its scale>}}`,
with every criterion of the rubric and nothing else. The value is the weighted mean of
the scores rescaled to 0–1 (low end 0, high end 1). Connection errors, timeouts and
the HTTP statuses that mean "try again" (429, 502, 503, 504) are retried with
exponential backoff; any other failure — other HTTP errors, a malformed or incomplete
answer — makes the value missing (None), never 0, and is logged.

Each request, the whole answer included, has `timeout` seconds (a connection still open
then is cut) and at most MAX_ANSWER_BYTES of answer. The judge connects directly (no
HTTP(S)_PROXY), follows no redirect, and refuses a connection that reaches an address
the operator's allowlist does not allow (workers.rewards.endpoints), whatever DNS said
when the spec was saved.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import logging
import math
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workers.contracts import HostAllowlist, JudgeTarget, ScoreItem, ScoringError
from workers.ml.components.base import Component, ScoringContext
from workers.rewards import spec
from workers.rewards.endpoints import address_problem

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 502, 503, 504}
MAX_PARALLEL = 8
MAX_ANSWER_BYTES = 1 << 20


class JudgeAnswerError(ValueError):
    """The endpoint answered, but not with what the protocol asks."""


class JudgeRefused(Exception):
    """The judge will not talk to where the request would go (an address, a redirect)."""


class _Transient(Exception):
    """A failure worth trying again."""


def chat_url(url: str) -> str:
    """The chat completions URL from a base URL (`…/v1`) or the full one."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


def judge_messages(target: JudgeTarget, item: ScoreItem) -> list[dict[str, str]]:
    criteria = "\n".join(
        f"- {c.name} (integer {c.low} to {c.high}): {c.description}".rstrip(": ")
        for c in target.criteria
    )
    example = json.dumps({"scores": {c.name: c.high for c in target.criteria}})
    system = (
        "You grade one response to a prompt against a rubric. Answer with one JSON object "
        f"and nothing else, in exactly this shape: {example}, giving every criterion an "
        "integer on its scale."
    )
    parts = [f"Rubric criteria:\n{criteria}"]
    if target.guidelines:
        parts.append(f"Guidelines:\n{target.guidelines}")
    parts.append(f"Prompt:\n{item.prompt}")
    if item.reference is not None:
        parts.append(f"Reference answer:\n{item.reference}")
    parts.append(f"Response to grade:\n{item.response}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_judgement(target: JudgeTarget, body: Any) -> float:
    """The 0–1 value from a chat completion body; JudgeAnswerError if it breaks the protocol."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeAnswerError("no choices[0].message.content in the answer") from None
    try:
        answer = json.loads(content)
    except (TypeError, ValueError):
        raise JudgeAnswerError("the message is not JSON") from None
    scores = answer.get("scores") if isinstance(answer, dict) else None
    if not isinstance(scores, dict) or set(answer) != {"scores"}:
        raise JudgeAnswerError('the answer should be {"scores": {...}} and nothing else')
    names = {c.name for c in target.criteria}
    if set(scores) != names:
        raise JudgeAnswerError(f"scores for {sorted(scores)}; expected {sorted(names)}")
    total = weights = 0.0
    for c in target.criteria:
        value = scores[c.name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise JudgeAnswerError(f"{c.name}: {value!r} is not an integer")
        if not c.low <= value <= c.high:
            raise JudgeAnswerError(f"{c.name}: {value} is outside {c.low}–{c.high}")
        total += c.weight * (value - c.low) / (c.high - c.low)
        weights += c.weight
    if weights == 0:
        return total / len(target.criteria) if target.criteria else math.nan
    return total / weights


Connect = Callable[..., socket.socket]


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection opened by `check` (address check, deadline) rather than directly."""

    def __init__(self, host: str, *, check: Connect, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.check = check

    def connect(self) -> None:
        self.sock = self.check((self.host, self.port), self.timeout, self.source_address)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose TCP socket comes from `check`, then wrapped in TLS with
    the default context (certificate and host name verified)."""

    def __init__(self, host: str, *, check: Connect, **kwargs: Any) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, context=self.tls, **kwargs)
        self.check = check

    def connect(self) -> None:
        sock = self.check((self.host, self.port), self.timeout, self.source_address)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, check: Connect) -> None:
        super().__init__()
        self.check = check

    def http_open(self, req: Any) -> Any:
        return self.do_open(functools.partial(_CheckedHTTPConnection, check=self.check), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, check: Connect) -> None:
        super().__init__()
        self.check = check

    def https_open(self, req: Any) -> Any:
        return self.do_open(functools.partial(_CheckedHTTPSConnection, check=self.check), req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the HTTP error it is, never followed."""

    def redirect_request(self, *args: Any) -> None:
        return None


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _opener(allowed: HostAllowlist, deadline: float, timers: list[threading.Timer]) -> Any:
    """An opener whose connections reach only allowed addresses and end at `deadline`."""

    def connect(address: tuple[str, int], timeout: Any = None, source: Any = None) -> socket.socket:
        sock = socket.create_connection(address, timeout, source)
        peer = str(sock.getpeername()[0])
        if problem := address_problem(peer, allowed):
            sock.close()
            raise JudgeRefused(f"{address[0]}: {problem}")
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (sock,))
        timer.daemon = True
        timer.start()
        timers.append(timer)
        return sock

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _NoRedirect,
        _HTTPHandler(connect),
        _HTTPSHandler(connect),
    )


def _read(answer: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := answer.read1(65536):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise JudgeAnswerError(f"the answer is longer than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _post(target: JudgeTarget, payload: dict[str, Any]) -> Any:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by the spec
        chat_url(target.url), data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    deadline = time.monotonic() + target.timeout
    timers: list[threading.Timer] = []
    try:
        with _opener(target.allowed, deadline, timers).open(
            request, timeout=target.timeout
        ) as answer:
            raw = _read(answer)
        if time.monotonic() >= deadline:  # the connection was cut: the answer is partial
            raise _Transient(f"no complete answer within {target.timeout} s")
    except urllib.error.HTTPError as exc:
        if exc.code in RETRY_STATUSES:
            raise _Transient(f"HTTP {exc.code}") from None
        if 300 <= exc.code < 400:
            raise JudgeRefused(
                f"HTTP {exc.code} redirect to {exc.headers.get('Location')!r}; "
                "the judge follows no redirects"
            ) from None
        raise JudgeAnswerError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        if time.monotonic() >= deadline:
            raise _Transient(f"no complete answer within {target.timeout} s") from None
        raise _Transient(str(exc)) from None
    finally:
        for timer in timers:
            timer.cancel()
    try:
        return json.loads(raw)
    except ValueError:
        raise JudgeAnswerError("the body is not JSON") from None


def judge_one(target: JudgeTarget, item: ScoreItem) -> float | None:
    """One response's judged value, or None when the judge could not give one."""
    payload = {
        "model": target.model,
        "messages": judge_messages(target, item),
        "temperature": 0,
        "response_format": {"type": "json_object"},
    }
    for attempt in range(target.attempts):
        try:
            return parse_judgement(target, _post(target, payload))
        except _Transient as exc:
            if attempt + 1 == target.attempts:
                logger.warning(
                    "judge %s unreachable after %s tries: %s", target.url, attempt + 1, exc
                )
                return None
            time.sleep(target.backoff * 2**attempt)
        except JudgeAnswerError as exc:
            logger.warning("judge %s gave no usable answer: %s", target.url, exc)
            return None
        except JudgeRefused as exc:
            logger.warning("judge %s refused: %s", target.url, exc)
            return None
    return None


class RubricJudgeComponent(Component[spec.RubricJudge]):
    """Scores each response with an LLM judge against a rubric version (see module docs)."""

    kind = "rubric_judge"

    def __init__(self, params: spec.RubricJudge, context: ScoringContext) -> None:
        super().__init__(params, context)
        target = context.resources.judges.get(params.name)
        if target is None:
            raise ScoringError(f"{params.name}: no judge endpoint was resolved for this component")
        self.target = target

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(items))) as pool:
            return list(pool.map(lambda item: judge_one(self.target, item), items))
