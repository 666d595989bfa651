"""Merchant errors: each a narrow class with a stable code, in a `ledger.errors` category."""
from __future__ import annotations

from ledger import errors


def _define(name: str, base: type[errors.DomainError], code: str) -> type[errors.DomainError]:
    return errors.register(type(name, (base,), {"code": code, "__module__": __name__}))


MerchantNotFound = _define("MerchantNotFound", errors.NotFound, "merchant_not_found")
InvalidMerchantKind = _define("InvalidMerchantKind", errors.InvalidInput, "invalid_merchant_kind")
InvalidMerchantStatus = _define("InvalidMerchantStatus", errors.InvalidInput, "invalid_merchant_status")
InvalidMerchant = _define("InvalidMerchant", errors.InvalidInput, "invalid_merchant")
MerchantClosed = _define("MerchantClosed", errors.Conflict, "merchant_closed")
MerchantImmutable = _define("MerchantImmutable", errors.InvalidInput, "merchant_immutable")
