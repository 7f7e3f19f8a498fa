import points
from points import AccountKind, TransferKind


def test_smoke(db: points.Database) -> None:
    with db.transaction() as tx:
        points.open_community(tx, "c1")
        w = points.open_account(tx, "c1", AccountKind.MEMBER, "m1")
        t = points.transfer(
            tx,
            community_id="c1",
            debit_account_id="pool:c1",
            credit_account_id=w.id,
            amount=100,
            kind=TransferKind.ACCRUAL,
            id="t1",
        )
    with db.snapshot() as tx:
        acct = points.get_account(tx, "c1", w.id)
        assert acct.balance == 100
        assert points.audit(tx) == []
    assert t.amount == 100
