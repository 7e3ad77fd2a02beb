"""The event bus between components: one port, an in-process default and a NATS adapter.

Build the in-process bus with `MemoryBus()`; connect the JetStream one with
`await NatsBus.connect(NatsBusConfig(...), on_unavailable=...)`. Both keep the contract written
on `Bus`: at-least-once delivery to durable subscriptions, so wrap handlers in
`IdempotentHandler` for effectively-once processing.
"""

from __future__ import annotations

from coinswarm.infra.bus.base import (
    Bus,
    BusError,
    BusUnavailableError,
    Event,
    Handler,
    IdempotentHandler,
    InvalidEventError,
    InvalidSubjectError,
    JsonValue,
    MemorySeenIds,
    SeenIds,
    Subscription,
    subject_matches,
)
from coinswarm.infra.bus.memory import MemoryBus, MemoryBusConfig, MemorySubscription
from coinswarm.infra.bus.nats import NatsBus, NatsBusConfig, NatsSubscription

__all__ = [
    "Bus",
    "BusError",
    "BusUnavailableError",
    "Event",
    "Handler",
    "IdempotentHandler",
    "InvalidEventError",
    "InvalidSubjectError",
    "JsonValue",
    "MemoryBus",
    "MemoryBusConfig",
    "MemorySeenIds",
    "MemorySubscription",
    "NatsBus",
    "NatsBusConfig",
    "NatsSubscription",
    "SeenIds",
    "Subscription",
    "subject_matches",
]
