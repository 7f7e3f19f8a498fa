"""Causes: why the libraries refused something, as a stable ``code`` with its parameters.

An error carries a :class:`Cause` (``Cause("range", {"low": 1, "high": 100}, field="limit")``)
instead of an English sentence, so a program can act on the code and a service can say it in
the reader's language from one table of its own. :data:`CAUSES` is the library's table: ``str()``
of a cause (and so of an error) reads in English for an embedder who translates nothing. Both
libraries raise these codes; a test holds that every code has a text.
"""

from __future__ import annotations

import msgspec

__all__ = ["CAUSES", "Cause"]

Param = str | int | float


class Cause(msgspec.Struct, frozen=True):
    """One reason for a refusal. ``field`` names the input at fault when the error itself does
    not (a policy's or a community's rules' problems, a points request's bad field)."""

    code: str  # a key of CAUSES
    params: dict[str, Param] = {}
    field: str = ""

    def __str__(self) -> str:
        text = CAUSES.get(self.code, self.code).format_map(self.params)
        return f"{self.field} {text}" if self.field else text


CAUSES: dict[str, str] = {
    # bounds and shapes, for any field
    "range": "must be {low} to {high}",
    "length": "must be {low} to {high} characters",
    "too_long": "must be at most {high} characters",
    "too_many": "must hold at most {high} entries",
    "at_most": "must be at most {high}",
    "stock_at_most": "must leave the stock at most {high}",
    "empty": "must not be empty",
    "text": "must be text",
    "integer": "must be a whole number",
    "positive": "must be positive",
    "non_zero": "must be a non-zero whole number",
    "not_negative": "must not be negative",
    "id_chars": "may use only letters, digits and . _ : @ -",
    "id_taken": "this id is taken by another {what}",
    "cursor": "is not a cursor this list gave out",
    "phone": "must be an 11-digit mainland mobile number",
    "skills": "at most {count} skills of {low} to {high} characters",
    # times
    "needs_time_zone": "must be a date and time with a time zone",
    "years": "must be a time between the years {low} and {high}",
    "in_past": "must be in the future",
    "in_future": "must not be in the future",
    "after": "must come after {other}",
    "not_below": "must not be below {other}",
    "must_differ": "must differ from {other} when a night bonus is set",
    # the marketplace
    "unknown_category": "must be one of the community's categories",
    "outside_community": "must be the community or a place inside it",
    "outside_member_org": "must be inside the org the member joins",
    "not_community_member": "must be a member of the community",
    "member_not_in_community": "{member} is not a member of the community",
    "not_resident": "must be a resident of this community",
    "not_claiming_role": "must be a volunteer or party member of the community",
    "not_unit": "must be a unit",
    "not_unit_member": "must be a member of the unit",
    "not_unit_claim": "is not a unit's claim",
    "own_wish": "cannot serve their own wish",
    "not_offer_request": "is not a request from an offer",
    "proxy_needs_consent": "代点单 needs a note of the resident's consent",
    "wish_span": "a wish spans at most {days} days within the next year",
    "checkin_too_early": "check-in opens {hours} hours before the agreed time",
    "checkin_token_invalid": "is not a check-in code this service drew for the community",
    "checkin_token_expired": "has expired; the resident's page draws a new one when reloaded",
    "offline_time_zone": "must carry its time zone",
    "offline_time_future": "must not be after now (a phone's clock may run {minutes} minutes fast)",
    "offline_time_stale": "an action taken offline must be sent within {hours} hours",
    "offline_time_early": "must not be before the claim (for a check-out: the check-in)",
    "self_donation": "cannot donate to oneself",
    "attendance_size": "must list 1 to {high} members",
    "duplicate_member": "must name each member once",
    "stats_level": "statistics are kept per community, street or district",
    "day_start": "must be a midnight in China time (statistics are kept per day, UTC+8)",
    "stats_period": "give either period or both since and until",
    "period_format": "must name a year (2026), a quarter (2026-Q3), a month (2026-11), the "
    "last days (30d, 1 to 366) or a range FROM..TO (2026-01-05..2026-03-31, 2026-01..2026-03)",
    "period_order": "FROM must not be after TO",
    "period_too_long": "a range is at most {days} days long",
    "export_kind": "must be one of: {kinds}",
    "export_format": "must be xlsx or csv",
    "consent_purpose": "must be one of: {purposes}",
    "org_parent": "a {kind} cannot sit under a {parent}",
    "duty_kind": "must be one of: {choices}",
    "unknown_member": "is no member",
    "not_in_service": "must be an in-service party member (a member with a home unit)",
    "duty_time": "must be within the last year and not in the future",
    "quarter_format": "must name a quarter (2026-Q3)",
    "open311_key": "must be a key drawn by the service",
    "open311_location": "give lat and long (in range) or address_string",
    "pair_unit_community": "pair a unit with a community",
    "wish_role": "{role} is a relation to a wish, not a role on an org",
    "photo_size": "must be at most {mb} MB a photo",
    "photo_format": "must be a photo in JPEG, PNG or WebP",
    "photo_animated": "must be a still photo, not an animation",
    "photo_pixels": "must be at most {megapixels} megapixels",
    "photo_broken": "could not be read: the file is damaged or incomplete",
    "photo_count": "must be 1 to {high} photos at a time",
    # spreadsheets and roster files (花名册)
    "sheet_too_large": "must be at most {mb} MB",
    "sheet_empty": "is empty",
    "sheet_no_header": "must have its column headers in row 1",
    "sheet_encrypted": "is protected by a password; remove the password and upload again",
    "sheet_xls": "is an old Excel file (.xls); save it as .xlsx or CSV",
    "sheet_unreadable": "is not a spreadsheet that can be read (.xlsx or .csv)",
    "sheet_encoding": "is text in no known encoding (UTF-8, GB18030)",
    "sheet_too_many_rows": "must have at most {high} rows",
    "roster_columns": "lacks the columns {columns}",
    "roster_column_twice": "has the column {column} twice",
    "roster_formula": "must not start with = + - @ (a formula)",
    "roster_duplicate_phone": "is the same phone as row {first}",
    "roster_phone_many": "belongs to several members of the community; check them first",
    "roster_phone_elsewhere": "is registered to a member outside this community",
    "roster_unknown_grid": "the community has no grid {word!r}",
    "roster_ambiguous": "{word!r} names more than one; use its id",
    "roster_unknown_building": "the community has no building {word!r}",
    "roster_building_outside_grid": "the grid has no building {word!r}",
    "roster_ambiguous_building": "several grids have a building {word!r}; give the grid",
    "roster_unknown_unit": "no unit {word!r} is paired with the community",
    "roster_unknown_role": "{word!r} is not a role a roster gives",
    "roster_office_role": "staff roles are given by an admin",
    "roster_unknown_key_household": "{word!r} is not a key-household type",
    "roster_needs_consent": "key-household types need the number of the signed consent",
    "roster_dropped": "this file was dropped; upload it again",
    "no_service_records": "holds no verified minutes served in this community for the period",
    "id_number": "is not a valid number of this kind of ID document",
    "id_kind": "must be one of the kinds of ID document listed",
    "consent_required": "needs the member's separate consent",
    "notice_type": "must be one of the event types (marketplace.notices.EVENTS)",
    "webhook_url": "must be an http:// or https:// address",
    # the points ledger and store
    "same_account": "a transfer needs two different accounts",
    "timeout_not_pending": "a timeout applies only to a pending transfer",
    "timeout_range": "must be positive and at most ten years",
    "nothing_to_reverse": "a {phase} transfer moves nothing to reverse",
    "reversal_not_reversed": "a reversal is not reversed; make a new transfer",
    "reverse_at_most": "at most {high} points can be reversed",
    "post_at_most": "at most the held {high} points can be posted",
    "pool_only": "this community takes donations to its pool only",
    "no_donations": "this community takes no donations",
    "policy_busy": "the policy is being edited by someone else; try again",
    "reserved_reference": "references starting {prefix!r} are kept for corrections",
    "correct_original": "correct the original record, not a correction",
    "unchanged": "must differ from the record as it stands",
    "partly_reversed": "its award was reversed in part by hand; settle the rest by an adjustment",
    "award_pending": "the record's points are still held; correct it once they are posted",
    "date_format": "must be a date (YYYY-MM-DD)",
    "correction_field": "must be minutes, served_on or category",
    "below_zero": "the record holds {total} minutes; it cannot go below zero",
    "goods_need_stock": "goods need a stock",
    "unlimited_stock": "this item has unlimited stock",
    "hold_range": "an order may be held from one minute to one year",
    "not_on_sale": "not on sale",
    "not_yet_on_sale": "not yet on sale",
    "no_longer_on_sale": "no longer on sale",
    # 吹哨报到 (marketplace.matters, marketplace.calendars)
    "calendar_line": "must read date,休 or 班,name (e.g. 2027-10-01,休,国庆节)",
    "calendar_one_year": "must name days of one year",
    "staged_milestones": "a staged matter needs 1 to {high} milestones, each dated after today",
    "not_staged": "only a staged matter has milestones",
    "assign_to": "must be a unit or department, or a street under the level",
    "matter_open": "the wish already has a matter in progress",
    "whistle_wish_state": "only an open wish can be handed up",
    "no_level_above": "the community has no street (or the street no district) above it",
}
"""Every cause code the libraries raise, with its English text (``str.format`` placeholders
named by the cause's params)."""
