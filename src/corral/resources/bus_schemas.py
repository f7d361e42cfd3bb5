"""The ``subscribe`` and ``publish`` schemas: where clients find the bus endpoints."""

from __future__ import annotations

from corral.api.fields import Field
from corral.api.resource import ResourceType

EVENT_NAME_CHARS = "*._0-9a-zA-Z;="


class SubscribeType(ResourceType):
    """``GET /v1/subscribe?eventNames=…[&agentId=…][&since=…]`` upgrades to a WebSocket."""

    name = "subscribe"
    plural = "subscribe"
    collection_methods = ("GET",)
    resource_methods = ()
    description = "WebSocket endpoint: events pushed to the subscriber, one JSON per message"
    fields = (
        Field("eventNames", "array[string]", create=True, max_length=255),
        Field("agentId", "reference[agent]", create=True),
        Field("since", "int", create=True, min=0),
    )


class PublishType(ResourceType):
    """``POST /v1/publish``: publish an event (non-raw callers: replies only)."""

    name = "publish"
    plural = "publish"
    collection_methods = ("POST",)
    resource_methods = ()
    fields = (
        Field("id", "string", create=True, max_length=64),
        Field("name", "string", create=True, required=True, nullable=False, max_length=255,
              valid_chars=EVENT_NAME_CHARS),
        Field("replyTo", "string", create=True, max_length=255, valid_chars=EVENT_NAME_CHARS),
        Field("resourceId", "string", create=True, max_length=255),
        Field("resourceType", "string", create=True, max_length=255),
        Field("publisher", "string", create=True, max_length=255),
        Field("previousIds", "array[string]", create=True, max_length=64),
        Field("previousNames", "array[string]", create=True, max_length=255),
        Field("data", "json", create=True),
        Field("time", "int", create=True),
        Field("timeoutMillis", "int", create=True, min=0),
        Field("transitioning", "enum", create=True, options=("yes", "no", "error")),
        Field("transitioningMessage", "string", create=True, max_length=4096),
        Field("transitioningInternalMessage", "string", create=True, max_length=16384),
        Field("transitioningProgress", "int", create=True, min=0, max=100),
        Field("context", "map[string]", create=True),
    )
