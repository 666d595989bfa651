"""Merchant errors: each a narrow class with a stable code, in a `ledger.errors` category."""
from __future__ import annotations

from functools import partial

from ledger import errors

_define = partial(errors.define, module=__name__)


MerchantNotFound = _define("MerchantNotFound", errors.NotFound, "merchant_not_found")
InvalidMerchantKind = _define("InvalidMerchantKind", errors.InvalidInput, "invalid_merchant_kind")
InvalidMerchantStatus = _define("InvalidMerchantStatus", errors.InvalidInput, "invalid_merchant_status")
InvalidMerchant = _define("InvalidMerchant", errors.InvalidInput, "invalid_merchant")
MerchantClosed = _define("MerchantClosed", errors.Conflict, "merchant_closed")
MerchantImmutable = _define("MerchantImmutable", errors.InvalidInput, "merchant_immutable")

# Rewards catalogue
CatalogueItemNotFound = _define("CatalogueItemNotFound", errors.NotFound, "catalogue_item_not_found")
InvalidCatalogueItem = _define("InvalidCatalogueItem", errors.InvalidInput, "invalid_catalogue_item")
InvalidPrice = _define("InvalidPrice", errors.InvalidInput, "invalid_price")
NothingToChange = _define("NothingToChange", errors.BadRequest, "nothing_to_change")
OutOfStock = _define("OutOfStock", errors.Refused, "out_of_stock")
ItemNotAvailable = _define("ItemNotAvailable", errors.Refused, "catalogue_item_not_available")
# Same codes as redemption's (registered there for the database; one class per package here).
MerchantNotActive = type("MerchantNotActive", (errors.Refused,), {"code": "merchant_not_active",
                                                                  "__module__": __name__})
AgriNeedsAgriShop = type("AgriNeedsAgriShop", (errors.InvalidInput,), {"code": "agri_needs_agri_shop",
                                                                       "__module__": __name__})

# Settlement
RateNotSet = _define("RateNotSet", errors.Refused, "settlement_rate_not_set")
InvalidRate = _define("InvalidRate", errors.InvalidInput, "invalid_settlement_rate")
InvalidPeriod = _define("InvalidPeriod", errors.InvalidInput, "invalid_settlement_period")
PeriodOverlaps = _define("PeriodOverlaps", errors.Conflict, "settlement_period_overlaps")
PeriodGap = _define("PeriodGap", errors.InvalidInput, "settlement_period_gap")
PeriodFuture = _define("PeriodFuture", errors.InvalidInput, "settlement_period_future")
SettlementNotFound = _define("SettlementNotFound", errors.NotFound, "settlement_not_found")
SettlementAlreadyPaid = _define("SettlementAlreadyPaid", errors.Conflict, "settlement_already_paid")
InvalidPayment = _define("InvalidPayment", errors.InvalidInput, "invalid_payment")
SettlementRaced = _define("SettlementRaced", errors.Conflict, "settlement_raced")

# Raised by the database only (a write that bypassed the service's checks).
for _code in ("catalogue_item_immutable", "reservation_mismatch", "reservation_immutable",
              "settlement_not_open", "statement_immutable", "settlement_account_mismatch",
              "settlement_range_invalid", "settlement_points_mismatch", "settle_without_settlement"):
    _name = "".join(part.title() for part in _code.split("_"))
    globals()[_name] = _define(_name, errors.InvalidInput, _code)
NotYourMerchant = _define("NotYourMerchant", errors.Forbidden, "merchant_scope_mismatch")
