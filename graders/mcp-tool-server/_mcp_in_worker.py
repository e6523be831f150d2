"""Runs INSIDE the learner's sandboxed worker: the grader loads this file's text there as a module
(`_mcp_env.in_worker`); the grader process never imports it.

The MCP session to the learner's server belongs to the grader (it checks the server's state
through it). Learner code gets `GraderSession`, which looks like the SDK's ClientSession: its
methods are awaitable and return the SDK's own result objects. Each call runs on the grader's
session through a handle and comes back as data (the result as the protocol carries it, rebuilt
here with the SDK's models); a JSON-RPC error is raised here as the SDK's MCPError, a request that
got no answer in time as TimeoutError, as the SDK itself would.
"""

from __future__ import annotations

from typing import Any


class GraderSession:
    """The grader's MCP ClientSession, as learner code sees it."""

    def __init__(self, bridge: Any) -> None:
        self._bridge = bridge

    def _answer(self, reply: dict[str, Any]) -> Any:
        if "mcp_error" in reply:
            from mcp import MCPError

            error = reply["mcp_error"]
            raise MCPError(error["code"], error["message"], error.get("data"))
        if "timeout" in reply:
            raise TimeoutError(reply["timeout"])
        import mcp.types

        model = getattr(mcp.types, reply["type"], None)
        return model.model_validate(reply["value"]) if model is not None else reply["value"]

    async def list_tools(self) -> Any:
        return self._answer(self._bridge.request("list_tools"))

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None,
                        read_timeout_seconds: float | None = None) -> Any:
        return self._answer(self._bridge.request("call_tool", name, arguments, read_timeout_seconds))

    async def list_resources(self) -> Any:
        return self._answer(self._bridge.request("list_resources"))

    async def read_resource(self, uri: Any) -> Any:
        return self._answer(self._bridge.request("read_resource", str(uri)))

    async def send_ping(self) -> Any:
        return self._answer(self._bridge.request("send_ping"))

    def __repr__(self) -> str:
        return "<ClientSession to your server.py (the grader's)>"


class HangingSession:
    """A session whose server never answers tools/call (the grader's timeout case)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None,
                        read_timeout_seconds: float | None = None) -> Any:
        import asyncio

        await asyncio.sleep(self.seconds)
        raise TimeoutError("the grader's hanging session gave up")

    def __repr__(self) -> str:
        return "<ClientSession to a server that never answers (the grader's)>"


class FailingSession:
    """A session whose server answers tools/call with a JSON-RPC error (a protocol error)."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None,
                        read_timeout_seconds: float | None = None) -> Any:
        from mcp import MCPError

        raise MCPError(-32603, self.message, None)

    def __repr__(self) -> str:
        return "<ClientSession to a server that fails every request (the grader's)>"
