"""scale-subscriber: the seed article's example, on corral's subscriber SDK.

Listens for ``resource.change`` and prints each event's payload as one JSON line; serves
``GET /healthcheck`` on ``HEALTHCHECK_PORT`` (default 10240) so the platform can watch it.
Configuration comes from ``CATTLE_URL``, ``CATTLE_ACCESS_KEY`` and ``CATTLE_SECRET_KEY``
(set for you when it runs as a corral instance with the create_agent labels).

Optional: ``SUBSCRIBER_STATE_FILE`` keeps the resume position across restarts of this
process; ``LOG_LEVEL`` (default INFO, to stderr).
"""

from __future__ import annotations

import json
import logging
import os
import sys

from corral.subscriber import ReceivedEvent, Subscriber


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    router = Subscriber(
        healthcheck_port=int(os.environ.get("HEALTHCHECK_PORT", "10240")),
        healthcheck_host=os.environ.get("HEALTHCHECK_HOST", "0.0.0.0"),
        state_file=os.environ.get("SUBSCRIBER_STATE_FILE") or None,
    )

    @router.handler("resource.change")
    async def changed(event: ReceivedEvent) -> None:
        # async: runs on the event loop, so lines from parallel workers never interleave
        line = {"seq": event.seq, "resourceType": event.resource_type,
                "resourceId": event.resource_id, "data": event.data}
        print(json.dumps(line, separators=(",", ":")), flush=True)

    router.run_forever()


if __name__ == "__main__":
    main()
