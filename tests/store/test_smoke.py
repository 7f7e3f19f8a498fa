import points
from points import AccountKind, TransferKind


async def test_smoke(db: points.Database) -> None:
    async with db.transaction() as tx:
        await points.open_community(tx, "c1")
        w = await points.open_account(tx, "c1", AccountKind.MEMBER, "m1")
        t = await points.transfer(
            tx,
            community_id="c1",
            debit_account_id="pool:c1",
            credit_account_id=w.id,
            amount=100,
            kind=TransferKind.ACCRUAL,
            id="t1",
        )
    async with db.read() as tx:
        acct = await points.get_account(tx, "c1", w.id)
        assert acct.balance == 100
        assert await points.audit(tx) == []
    assert t.amount == 100
