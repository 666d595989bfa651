"""Notify's domain errors: each subclasses a ledger category (which gives the HTTP status)
and carries a stable code. Codes the database raises are registered by code."""
from __future__ import annotations

from functools import partial

from ledger import errors

_define = partial(errors.define, module=__name__)

UnknownEventType = _define("UnknownEventType", errors.InvalidInput, "unknown_event_type")
InvalidWebhookUrl = _define("InvalidWebhookUrl", errors.InvalidInput, "invalid_webhook_url")
InvalidEventFilter = _define("InvalidEventFilter", errors.InvalidInput, "invalid_event_filter")
TooManyWebhooks = _define("TooManyWebhooks", errors.Refused, "too_many_webhooks")
UnknownWebhook = _define("UnknownWebhook", errors.NotFound, "unknown_webhook")
UnknownDelivery = _define("UnknownDelivery", errors.NotFound, "unknown_delivery")
DeliveryNotReplayable = _define("DeliveryNotReplayable", errors.Refused, "delivery_not_replayable")
UnknownNotification = _define("UnknownNotification", errors.NotFound, "unknown_notification")
