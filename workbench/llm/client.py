"""The API labs and graders call: `chat` (tools, structured output), `stream`, and `embed`.

Every call goes through litellm (imported on the first call, never before), so the same code
runs on the embedded server, Ollama, vLLM or a hosted API. Defaults: temperature 0, seed 0.
The embedded server is started on demand (with a message) and left running. Transient
failures are retried with backoff; failures become LLMError subclasses that say what to do.
Calls are charged to the run's budget and logged; cassettes record or replay them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from . import calllog, cassette, server
from .budget import current_budget
from .config import LOCAL_LITELLM_MODEL, Backend, resolve_backend
from .errors import BackendAuthError, BudgetExceeded, LLMError, LLMTimeout, ServerNotRunning
from .response import ChatResponse, ToolCall

DEFAULT_SEED = 0
DEFAULT_MAX_TOKENS = 512
DEFAULT_TIMEOUT_S = 60.0
_litellm_module: Any = None
_local_base_url: str | None = None
_litellm_lock = threading.Lock()


def load_litellm() -> Any:
    """Import litellm once, offline, quiet, with the local model registered and the call log attached."""
    global _litellm_module
    with _litellm_lock:
        if _litellm_module is not None:
            return _litellm_module
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.drop_params = True  # a provider that ignores `seed` should not fail the call
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
            logging.getLogger(name).setLevel(logging.ERROR)
        litellm.register_model({LOCAL_LITELLM_MODEL: {
            "max_tokens": 4096, "max_input_tokens": 4096, "max_output_tokens": 4096,
            "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "chat",
            "supports_function_calling": True, "supports_tool_choice": True, "supports_response_schema": True,
        }})
        litellm.callbacks = [*(litellm.callbacks or []), calllog.make_callback()]
        _litellm_module = litellm
        return litellm


def add_callback(callback: Any) -> None:
    """Attach a litellm CustomLogger (an audit log, a guard) to every call made through this layer."""
    litellm = load_litellm()
    if callback not in litellm.callbacks:
        litellm.callbacks.append(callback)


def remove_callback(callback: Any) -> None:
    """Detach a callback attached with add_callback (from every list litellm copied it into)."""
    load_litellm().logging_callback_manager.remove_callback_from_all_lists(callback)


def translate_response_format(response_format: dict[str, Any] | None, backend: Backend) -> dict[str, Any] | None:
    """`json_schema` -> `json_object` + schema for the embedded server, which accepts only the latter."""
    if not response_format or not backend.is_local or response_format.get("type") != "json_schema":
        return response_format
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") if isinstance(spec, dict) else None
    translated: dict[str, Any] = {"type": "json_object"}
    if schema:
        translated["schema"] = schema
    return translated


def translate_messages(messages: list[dict[str, Any]], backend: Backend) -> list[dict[str, Any]]:
    """Fit a conversation to the embedded server's chat format (chatml-function-calling), which
    renders no `tool` role and needs `content` on every message: tool results become user
    turns naming the function, and assistant tool calls get an empty content."""
    if not backend.is_local:
        return messages
    names: dict[str, str] = {}
    translated = []
    for message in messages:
        message = dict(message)
        for call in message.get("tool_calls") or []:
            names[call.get("id", "")] = call.get("function", {}).get("name", "tool")
        if message.get("role") == "tool":
            name = message.get("name") or names.get(message.get("tool_call_id", ""), "tool")
            message = {"role": "user", "content": f"Result of {name}:\n{message.get('content')}"}
        elif message.get("content") is None:
            message["content"] = ""
        translated.append(message)
    return translated


def _translate_tool_choice(tool_choice: Any, tools: list[dict[str, Any]] | None, backend: Backend) -> Any:
    if backend.is_local and tool_choice == "required" and tools and len(tools) == 1:
        return {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
    return tool_choice


def _response_from_litellm(raw: Any, latency_ms: float) -> ChatResponse:
    choice = raw.choices[0]
    message = choice.message
    calls = []
    for index, call in enumerate(getattr(message, "tool_calls", None) or []):
        calls.append(ToolCall(getattr(call, "id", None) or f"call_{index}", call.function.name, call.function.arguments or "{}"))
    usage = getattr(raw, "usage", None)
    hidden = getattr(raw, "_hidden_params", None) or {}
    return ChatResponse(
        content=message.content, tool_calls=calls, finish_reason=choice.finish_reason, model=str(raw.model or ""),
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0), completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        latency_ms=round(latency_ms, 1), cost_usd=float(hidden.get("response_cost") or 0.0),
    )


def _missing_credentials(litellm: Any, backend: Backend) -> list[str]:
    """API-key variables the provider needs and the environment lacks (bases are not keys)."""
    try:
        missing = litellm.validate_environment(model=backend.litellm_model).get("missing_keys") or []
    except Exception:  # noqa: BLE001 - a hint must never raise
        return []
    return [name for name in missing if name.endswith(("_KEY", "_TOKEN"))]


def _auth_hint(litellm: Any, backend: Backend) -> str:
    missing = _missing_credentials(litellm, backend)
    if missing:
        return f"set {' and '.join(missing)} (e.g. export {missing[0]}=...), or switch backend: 'workbench backend use local'"
    return "check the API key variable for this provider, or switch backend: 'workbench backend use local'"


def _map_error(exc: Exception, litellm: Any, backend: Backend, api_base: str | None, timeout_s: float,
               budget_limited: bool) -> Exception:
    """A clear LLMError for a litellm failure (or the exception itself if transient)."""
    errors = litellm.exceptions
    credentials_missing = not backend.is_local and not backend.api_base and _missing_credentials(litellm, backend)
    if credentials_missing and not isinstance(exc, errors.Timeout):
        return BackendAuthError(f"{backend.name}: no API key ({' and '.join(credentials_missing)} not set)",
                                hint=_auth_hint(litellm, backend))
    if isinstance(exc, errors.AuthenticationError):
        return BackendAuthError(f"{backend.name}: the provider refused the credentials ({str(exc)[:160]})", hint=_auth_hint(litellm, backend))
    if isinstance(exc, errors.Timeout):
        if budget_limited:
            budget = current_budget()
            return BudgetExceeded(f"LLM time budget exceeded: a call was stopped when the lab's {budget.max_seconds:g} s "
                                  "of model time ran out", kind="seconds", limit=budget.max_seconds or 0, used=budget.seconds)
        return LLMTimeout(f"{backend.name} did not answer within {timeout_s:g} s",
                          hint="ask for fewer tokens (max_tokens), or pass a larger timeout_s")
    if backend.is_local and api_base:
        try:
            server.require_answering(api_base, timeout_s=2.0)
        except ServerNotRunning as down:
            return down
    if isinstance(exc, errors.NotFoundError):
        return LLMError(f"{backend.name}: model not found ({str(exc)[:200]})", hint="check the name with 'workbench backend status'")
    if isinstance(exc, errors.BadRequestError):
        return LLMError(f"{backend.name} rejected the request: {str(exc)[:300]}")
    if isinstance(exc, errors.APIConnectionError | errors.InternalServerError | errors.ServiceUnavailableError):
        where = api_base or "the provider"
        return LLMError(f"cannot reach {backend.name} at {where}: {str(exc)[:200]}",
                        hint="check the server or network; 'workbench backend status' tests it")
    return LLMError(f"{backend.name} call failed: {type(exc).__name__}: {str(exc)[:300]}")


def _is_transient(exc: Exception, litellm: Any) -> bool:
    errors = litellm.exceptions
    return isinstance(exc, errors.RateLimitError | errors.ServiceUnavailableError | errors.InternalServerError
                      | errors.APIConnectionError)


def _prepare(backend: Backend, kwargs: dict[str, Any], timeout_s: float) -> tuple[Any, dict[str, Any], float, bool]:
    seconds_left = current_budget().check_before_call()
    budget_limited = seconds_left is not None and seconds_left < timeout_s
    timeout = min(timeout_s, seconds_left) if seconds_left is not None else timeout_s
    global _local_base_url
    api_base = backend.api_base
    if backend.is_local and not api_base:
        if _local_base_url is None:
            _local_base_url = server.ensure_running().base_url
        api_base = _local_base_url
    litellm = load_litellm()
    call = {key: value for key, value in kwargs.items() if value is not None}
    call.update(model=backend.litellm_model, timeout=timeout, max_retries=0)
    if api_base:
        call["api_base"] = api_base
    if backend.api_key:
        call["api_key"] = backend.api_key
    elif api_base and _missing_credentials(litellm, backend):
        call["api_key"] = "unused"  # a self-hosted OpenAI-compatible server wants some key, any key
    return litellm, call, timeout, budget_limited


def _forget_local_server() -> None:
    global _local_base_url
    _local_base_url = None


def _call_with_retries(backend: Backend, kwargs: dict[str, Any], timeout_s: float, retries: int,
                       messages_sha256: str) -> tuple[Any, float, str]:
    for attempt in range(retries + 1):
        litellm, call, timeout, budget_limited = _prepare(backend, kwargs, timeout_s)
        call_id = uuid.uuid4().hex
        call["litellm_call_id"] = call_id
        call["metadata"] = {"workbench_messages_sha256": messages_sha256}
        started = time.perf_counter()
        try:
            raw = litellm.completion(**call)
        except Exception as exc:  # noqa: BLE001 - every litellm failure is mapped below
            if calllog.find(call_id) is None:
                calllog.record(calllog.CallRecord(model=backend.litellm_model, messages_sha256=messages_sha256,
                                                  latency_ms=round((time.perf_counter() - started) * 1000, 1), status="error",
                                                  error=f"{type(exc).__name__}: {str(exc)[:200]}", call_id=call_id))
            mapped = _map_error(exc, litellm, backend, call.get("api_base"), timeout, budget_limited)
            if isinstance(mapped, ServerNotRunning) and backend.api_base is None:
                _forget_local_server()
                if attempt < retries:
                    continue  # on-demand mode: the next attempt starts the server again
            elif attempt < retries and _is_transient(exc, litellm):
                time.sleep(min(0.5 * 2 ** attempt, 4.0))
                continue
            raise mapped from exc
        return raw, (time.perf_counter() - started) * 1000, call_id
    raise AssertionError("unreachable")


def _request(backend: Backend, messages: list[dict[str, Any]], tools: Any, tool_choice: Any, response_format: Any,
             temperature: float, seed: int | None, max_tokens: int | None) -> dict[str, Any]:
    return cassette.normalise_request(model=backend.litellm_model, messages=messages, tools=tools, tool_choice=tool_choice,
                                      response_format=response_format, temperature=temperature, seed=seed, max_tokens=max_tokens)


def _replayed(key: str, request: dict[str, Any], messages: list[dict[str, Any]], stream: bool) -> ChatResponse:
    current_budget().check_before_call()
    response = ChatResponse.from_dict(cassette.replay(key, request), replayed=True)
    calllog.record(calllog.CallRecord(
        model=request["model"], messages_sha256=calllog.messages_sha256(messages),
        tool_calls=[{"name": c.name, "arguments": c.arguments} for c in response.tool_calls],
        prompt_tokens=response.prompt_tokens, completion_tokens=response.completion_tokens, replayed=True, stream=stream,
    ))
    current_budget().check_after_call()
    return response


def chat(
    messages: list[dict[str, Any]],
    *,
    model: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    response_format: dict[str, Any] | None = None,
    temperature: float = 0.0,
    seed: int | None = DEFAULT_SEED,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    retries: int = 2,
    stop: list[str] | None = None,
) -> ChatResponse:
    """One chat completion on the active backend (or `model`), with optional tools and
    structured output (`response_format` of type json_object or json_schema)."""
    backend = resolve_backend(model)
    messages = [dict(message) for message in messages]
    tool_choice = _translate_tool_choice(tool_choice, tools, backend)
    request = _request(backend, messages, tools, tool_choice, response_format, temperature, seed, max_tokens)
    key = cassette.request_key(request)
    mode = cassette.cassette_mode()
    if mode == "replay":
        return _replayed(key, request, messages, stream=False)
    kwargs = {"messages": translate_messages(messages, backend), "tools": tools or None,
              "tool_choice": tool_choice if tools else None,
              "response_format": translate_response_format(response_format, backend), "temperature": temperature,
              "seed": seed, "max_tokens": max_tokens, "stop": stop}
    raw, latency_ms, call_id = _call_with_retries(backend, kwargs, timeout_s, retries, calllog.messages_sha256(messages))
    response = _response_from_litellm(raw, latency_ms)
    if calllog.find(call_id) is None:
        calllog.record(calllog.CallRecord(
            model=backend.litellm_model, messages_sha256=calllog.messages_sha256(messages),
            tool_calls=[{"name": c.name, "arguments": c.arguments} for c in response.tool_calls],
            prompt_tokens=response.prompt_tokens, completion_tokens=response.completion_tokens,
            latency_ms=response.latency_ms, cost_usd=response.cost_usd, call_id=call_id))
    if mode == "record":
        cassette.active_cassette().put(key, request, response.to_dict())
    current_budget().check_after_call()
    return response


def stream(
    messages: list[dict[str, Any]],
    *,
    model: str | None = None,
    temperature: float = 0.0,
    seed: int | None = DEFAULT_SEED,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    stop: list[str] | None = None,
) -> Iterator[str]:
    """Yield the answer's text as it is generated (replay yields the recorded text at once)."""
    backend = resolve_backend(model)
    messages = [dict(message) for message in messages]
    request = _request(backend, messages, None, None, None, temperature, seed, max_tokens)
    key = cassette.request_key(request)
    mode = cassette.cassette_mode()
    if mode == "replay":
        yield _replayed(key, request, messages, stream=True).content or ""
        return
    kwargs = {"messages": translate_messages(messages, backend), "temperature": temperature, "seed": seed,
              "max_tokens": max_tokens, "stop": stop,
              "stream": True, "stream_options": {"include_usage": True}}
    raw, _, call_id = _call_with_retries(backend, kwargs, timeout_s, 1, calllog.messages_sha256(messages))
    started = time.perf_counter()
    parts: list[str] = []
    prompt_tokens = completion_tokens = 0
    for chunk in raw:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or prompt_tokens)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or completion_tokens)
        if chunk.choices:
            text = getattr(chunk.choices[0].delta, "content", None)
            if text:
                parts.append(text)
                yield text
    content = "".join(parts)
    if calllog.find(call_id) is None:
        calllog.record(calllog.CallRecord(
            model=backend.litellm_model, messages_sha256=calllog.messages_sha256(messages), prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens or len(parts), latency_ms=round((time.perf_counter() - started) * 1000, 1),
            stream=True, call_id=call_id))
    if mode == "record":
        response = ChatResponse(content=content, finish_reason="stop", model=backend.litellm_model,
                                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens or len(parts))
        cassette.active_cassette().put(key, request, response.to_dict())
    current_budget().check_after_call()


__all__ = ["ChatResponse", "ToolCall", "add_callback", "chat", "load_litellm", "remove_callback", "stream", "translate_messages",
           "translate_response_format"]
