"""corral: a Cattle-style orchestration server.

Named events pushed over plain WebSocket, a persistent process pool that retries
work until an agent confirms it, and no message broker to deploy.
"""

__version__ = "0.1.0"
