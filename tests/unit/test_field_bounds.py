"""Each field's bounds are written once, in the library (marketplace.bounds): the API's request
bodies and the web forms declare the same bounds, and the OpenAPI document states them."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from marketplace import InvalidInput, bounds
from points import AccrualPolicy
from service.api.claims import WithdrawIn
from service.api.offers import OfferIn, RequestIn
from service.api.points import DonationIn, ItemIn, RedeemIn, RestockIn
from service.api.wishes import ConfirmIn, PostWish, UnitClaimIn
from service.pages.office import PolicyForm
from service.pages.points import DonateForm, RedeemForm
from service.pages.resident import ConfirmForm, OfferForm, RequestForm, WishForm
from service.pages.stock import ItemForm, RestockForm
from service.pages.volunteer import UnitClaimForm, WithdrawForm

SAME = [
    (PostWish, WishForm, "title", bounds.Title),
    (PostWish, WishForm, "description", bounds.Description),
    (PostWish, WishForm, "address", bounds.Address),
    (PostWish, WishForm, "capacity", bounds.Capacity),
    (PostWish, WishForm, "estimated_minutes", bounds.Minutes),
    (PostWish, WishForm, "urgency", bounds.Urgency),
    (PostWish, WishForm, "proxy_note", bounds.Note),
    (RequestIn, RequestForm, "address", bounds.Address),
    (RequestIn, RequestForm, "estimated_minutes", bounds.Minutes),
    (OfferIn, OfferForm, "title", bounds.Title),
    (OfferIn, OfferForm, "schedule", bounds.Schedule),
    (OfferIn, OfferForm, "capacity_per_week", bounds.Capacity),
    (ConfirmIn, ConfirmForm, "rating", bounds.Rating),
    (ConfirmIn, ConfirmForm, "comment", bounds.Note),
    (UnitClaimIn, UnitClaimForm, "places", bounds.Capacity),
    (WithdrawIn, WithdrawForm, "reason", bounds.Note),
]
STORE = [  # the points store's bounds: the same types in the API and the pages
    (ItemIn, ItemForm, "cost"),
    (ItemIn, ItemForm, "stock"),
    (ItemIn, ItemForm, "per_member_limit"),
    (RestockIn, RestockForm, "change"),
    (RedeemIn, RedeemForm, "quantity"),
    (DonationIn, DonateForm, "amount"),
]


def _limits(model: type[Any], field: str) -> tuple[Any, Any]:
    _, defs = msgspec.json.schema_components([model])
    found = defs[model.__name__]["properties"][field]
    found = next((s for s in found.get("anyOf", [found]) if s.get("type") != "null"), found)
    low = found.get("minimum", found.get("minLength", 0))
    high = found.get("maximum", found.get("maxLength"))
    return low, high


@pytest.mark.parametrize(("api", "form", "field", "bound"), SAME)
def test_the_api_and_the_page_form_use_the_library_s_bounds(
    api: type[Any], form: type[Any], field: str, bound: Any
) -> None:
    expected = (bounds.least(bound), bounds.most(bound))
    assert _limits(api, field) == expected
    assert _limits(form, field) == expected


@pytest.mark.parametrize(("api", "form", "field"), STORE)
def test_the_store_s_forms_take_the_api_s_bounds(
    api: type[Any], form: type[Any], field: str
) -> None:
    assert _limits(form, field) == _limits(api, field)


def test_the_policy_form_takes_the_policy_s_own_bounds() -> None:
    for field in PolicyForm.__struct_fields__:
        assert _limits(PolicyForm, field) == _limits(AccrualPolicy, field), field


def test_the_library_refuses_what_its_bounds_refuse() -> None:
    assert bounds.within("capacity", 100, bounds.Capacity) == 100
    with pytest.raises(InvalidInput) as refused:
        bounds.within("capacity", 101, bounds.Capacity)
    assert refused.value.field == "capacity"
    assert refused.value.reason.params == {"low": 1, "high": 100}
    with pytest.raises(InvalidInput):
        bounds.within("capacity", True, bounds.Capacity)
