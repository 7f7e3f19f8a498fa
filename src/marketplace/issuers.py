"""Who issues a community's certificates (证明出具单位): the organisation's name as printed, its
person in charge (负责人), the handler (经办人), a contact (联系方式) and the seal (公章).

Office of the community sets the names; only an admin uploads the seal's image (a PNG or JPEG,
made into a PNG whose white is transparent, at most :data:`SEAL_SIDE` pixels a side). Without
one, certificates print an empty box that staff stamp by hand.
"""

from __future__ import annotations

import datetime as dt
import io

import msgspec
import sqlalchemy as sa
from PIL import Image, ImageChops, UnidentifiedImageError
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.bounds import IssuerName, Signatory, most
from marketplace.errors import InvalidInput
from marketplace.lifecycle import Act
from marketplace.orgs import check_text
from marketplace.schema import issuers
from marketplace.wallet import community_roles
from points import Cause, utcnow

SEAL_BYTES = 2 * 2**20
SEAL_SIDE = 600
SEAL_FORMATS = ("PNG", "JPEG")


class Issuer(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    organisation: str = ""  # "": the community's name
    person_in_charge: str = ""
    handler: str = ""  # "": whoever issues (staff), or left blank on a member's own request
    contact: str = ""
    has_seal: bool = False
    updated_at: dt.datetime | None = None


def issuer_of(conn: Connection, community_id: str) -> Issuer:
    """The community's issuer as set (the defaults if never set); no authorization: what a
    certificate prints is public on it."""
    row = conn.execute(
        sa.select(
            issuers.c.organisation,
            issuers.c.person_in_charge,
            issuers.c.handler,
            issuers.c.contact,
            issuers.c.seal.is_not(None),
            issuers.c.updated_at,
        ).where(issuers.c.community_id == community_id)
    ).first()
    if row is None:
        return Issuer(community_id=community_id)
    organisation, person, handler, contact, sealed, updated_at = row
    return Issuer(
        community_id=community_id,
        organisation=organisation,
        person_in_charge=person,
        handler=handler,
        contact=contact,
        has_seal=bool(sealed),
        updated_at=updated_at,
    )


def set_issuer(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    organisation: str = "",
    person_in_charge: str = "",
    handler: str = "",
    contact: str = "",
    now: dt.datetime | None = None,
) -> Issuer:
    """Office of the community sets what certificates print about the issuer."""
    _, held = community_roles(conn, actor, community_id)
    lifecycle.require(Act.SET_ISSUER, held, where="community")
    values: dict[str, object] = {
        "organisation": check_text(
            "organisation", organisation.strip(), most(IssuerName), required=False
        ),
        "person_in_charge": check_text(
            "person_in_charge", person_in_charge.strip(), most(Signatory), required=False
        ),
        "handler": check_text("handler", handler.strip(), most(Signatory), required=False),
        "contact": check_text("contact", contact.strip(), most(Signatory), required=False),
    }
    _upsert(conn, actor, community_id, values, now or utcnow())
    return issuer_of(conn, community_id)


def set_seal(
    conn: Connection,
    actor: str,
    community_id: str,
    image: bytes | None,
    *,
    now: dt.datetime | None = None,
) -> Issuer:
    """An admin uploads the seal's image (None: remove it, back to the box stamped by hand)."""
    _, held = community_roles(conn, actor, community_id)
    lifecycle.require(Act.SET_SEAL, held, where="community")
    _upsert(conn, actor, community_id, {"seal": seal_png(image) if image else None}, now)
    return issuer_of(conn, community_id)


def seal_image(conn: Connection, community_id: str) -> bytes | None:
    """The seal's PNG, for printing a certificate the caller may print."""
    value = conn.scalar(sa.select(issuers.c.seal).where(issuers.c.community_id == community_id))
    return bytes(value) if value is not None else None


def seal_png(raw: bytes) -> bytes:
    """The uploaded image as a PNG with white made transparent (pure, CPU only)."""
    if len(raw) > SEAL_BYTES:
        raise InvalidInput("seal", Cause("photo_size", {"mb": SEAL_BYTES // 2**20}))
    try:
        with Image.open(io.BytesIO(raw), formats=SEAL_FORMATS) as opened:
            if opened.width * opened.height > 25_000_000:
                raise InvalidInput("seal", Cause("photo_format"))
            image = opened.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InvalidInput("seal", Cause("photo_format")) from None
    image.thumbnail((SEAL_SIDE, SEAL_SIDE))
    red, green, blue, alpha = image.split()
    white = Image.eval(Image.merge("RGB", (red, green, blue)).convert("L"), _paper)
    image.putalpha(ImageChops.multiply(alpha, white))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _paper(level: int) -> int:
    """The alpha of a pixel by its lightness: paper white (above 235) becomes transparent."""
    return 0 if level > 235 else 255


def _upsert(
    conn: Connection,
    actor: str,
    community_id: str,
    values: dict[str, object],
    now: dt.datetime | None,
) -> None:
    stamp = {"updated_by": actor, "updated_at": now or utcnow()}
    done = conn.execute(
        issuers.update().where(issuers.c.community_id == community_id).values(**values, **stamp)
    )
    if done.rowcount == 0:
        blank = {"organisation": "", "person_in_charge": "", "handler": "", "contact": ""}
        conn.execute(
            issuers.insert().values(community_id=community_id, **{**blank, **values, **stamp})
        )
