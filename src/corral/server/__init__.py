"""The HTTP + WebSocket server."""
