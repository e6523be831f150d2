"""ssekit: an incremental Server-Sent Events decoder for streaming LLM responses."""

from ssekit.decoder import Event, SSEDecoder
from ssekit.stream import iter_events, iter_text

__all__ = ["Event", "SSEDecoder", "iter_events", "iter_text"]
__version__ = "0.4.1"
