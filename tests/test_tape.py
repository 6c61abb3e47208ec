"""The loan tape (contract) and the views computed from it agree with the monthly metrics."""

import numpy as np
import pandas as pd
import pytest

from model import CreditEconomy, RiskPolicy
from model.tape import COLUMNS, DPD_BUCKETS, STATUSES

CONTRACT = (
    "loan_id",
    "lender",
    "borrower",
    "vintage",
    "amount",
    "rate",
    "term",
    "months_on_book",
    "balance",
    "instalment",
    "arrears",
    "fees_due",
    "dpd",
    "dpd_bucket",
    "status",
)


@pytest.fixture(scope="module")
def economy():
    policies = ["balanced", RiskPolicy.preset("aggressive", writeoff_dpd=180)]
    eco = CreditEconomy(4000, "severe_recession", policies, seed=11, burn_in=30)
    eco.run(24)
    return eco


def test_tape_has_the_contract_columns_and_vocabularies(economy):
    tape = economy.loan_tape()
    assert tuple(tape.columns[: len(CONTRACT)]) == CONTRACT
    assert tuple(tape.columns) == COLUMNS
    assert list(tape.status.cat.categories) == list(STATUSES)
    assert list(tape.dpd_bucket.cat.categories) == list(DPD_BUCKETS)
    assert (tape.loan_id == np.arange(len(tape))).all()
    assert set(tape.status) >= {"current", "delinquent", "written_off", "closed", "probation"}
    # Every loan after the burn-in is on it, and the seasoned loans open at month 0.
    assert (tape.vintage >= -30).all() and tape.seasoned.any() and (~tape.seasoned).any()
    assert (tape.seasoned == (tape.vintage < 0)).all()


def test_open_loans_on_the_tape_are_the_book(economy):
    tape, book = economy.loan_tape(), economy.book
    open_ = tape[tape.closed_month.isna()]
    assert len(open_) == int(book.active.sum())
    assert open_.balance.sum() == pytest.approx(book.balance.sum())
    row = economy.metrics().iloc[-1]
    assert len(open_) == row.active_loans
    assert (open_.dpd > 0).sum() == row.overdue_loans
    assert (open_.dpd > 90).sum() == row.npl_loans
    forborne = open_.status.isin(["forborne", "probation"])
    assert forborne.sum() == row.forborne_loans
    assert ((open_.dpd > 0) | forborne).sum() == row.underlying_overdue_loans


def test_forborne_loans_are_overdue_and_loans_in_probation_current(economy):
    open_ = economy.loan_tape().query("closed_month.isna()")
    forborne, probation = (
        open_.dpd[open_.status == "forborne"],
        open_.dpd[open_.status == "probation"],
    )
    assert len(forborne) > 0 and len(probation) > 0
    assert (forborne > 0).all() and (probation == 0).all()
    relieved = economy.book.forborne[economy.book.active]
    assert open_.status.isin(["forborne", "probation"]).sum() == relieved.sum() > 0


def test_months_on_book_count_the_months_since_origination(economy):
    """Open loans at the last month's end; repaid ones at closing; written-off ones at the
    month-end before their write-off (write-off comes first in a month)."""
    tape, last = economy.loan_tape(), economy.month - 1
    open_ = tape[tape.closed_month.isna()]
    assert (open_.months_on_book == last - open_.vintage).all()
    repaid = tape[tape.status == "closed"]
    assert (repaid.months_on_book == repaid.closed_month - repaid.vintage).all()
    written = tape[tape.status == "written_off"]
    assert len(written) > 0
    assert (written.months_on_book == written.closed_month - 1 - written.vintage).all()


def test_closed_loans_keep_their_values_at_closing(economy):
    tape = economy.loan_tape()
    closed = tape[tape.status == "closed"]
    assert (closed.balance == 0).all() and (closed.arrears == 0).all()
    written = tape[tape.status == "written_off"]
    assert (written.written_off > 0).all()
    assert np.allclose(written.written_off, written.balance)
    for lender in economy.lenders:
        mine = written[written.lender == lender.index]
        assert (mine.dpd >= lender.policy.writeoff_dpd).all()
    assert (written.recovered <= written.written_off + 1e-6).all()
    assert (tape.closed_month.dropna() < economy.month).all()
    assert tape.closed_month.isna().sum() == economy.book.active.sum()


def test_write_offs_and_recoveries_on_the_tape_add_up_to_the_monthly_metrics(economy):
    tape, df = economy.loan_tape(), economy.metrics()
    written = tape[tape.status == "written_off"]
    assert written.written_off.sum() == pytest.approx(df.writeoffs.sum(), rel=1e-9)
    # Recoveries on loans written off after month 0 (earlier ones are not on the tape).
    assert written.recovered.sum() <= df.recoveries.sum() + 1e-6


def test_write_offs_after_relief_are_the_tapes_relieved_write_offs(economy):
    tape, df = economy.loan_tape(), economy.metrics()
    written = tape[tape.status == "written_off"]
    after_relief = written.written_off[written.relieved].sum()
    assert 0 < after_relief < written.written_off.sum()  # some relieved, some not
    assert df.writeoffs_after_relief.sum() == pytest.approx(after_relief, rel=1e-9)
    share = df.writeoffs_after_relief / df.writeoffs.where(df.writeoffs > 0)
    np.testing.assert_allclose(df.relieved_writeoff_share, share.fillna(0.0), rtol=1e-12)


def test_the_tapes_waivers_are_the_relief_losses_of_the_monthly_metrics():
    """Each loan's row carries what relief waived on it: the tape's waivers add up to the
    months' `waived` (every waiver is recorded without a burn-in), every relieved loan has
    one (relief is for 1-90 DPD, so there are arrears to waive) and no other loan."""
    eco = CreditEconomy(3000, "severe_recession", "balanced", seed=4, burn_in=0)
    df = eco.run(24)
    tape = eco.loan_tape()
    assert df.waived.sum() > 0
    assert tape.waived.sum() == pytest.approx(df.waived.sum(), rel=1e-12)
    assert ((tape.waived > 0) == tape.relieved).all()


def test_without_relief_no_write_off_follows_relief():
    policy = RiskPolicy.preset("balanced", relief_enabled=False)
    df = CreditEconomy(2000, "severe_recession", policy, seed=3, burn_in=24).run(24)
    assert df.writeoffs.sum() > 0 and df.writeoffs_after_relief.sum() == 0


def test_the_vintage_view_is_computed_from_the_tape(economy):
    tape, vintages = economy.loan_tape(), economy.vintage_table()
    last = economy.month - 1
    assert (vintages.vintage + vintages.months_on_book <= last).all()
    for v in (0, 5):
        lent = tape[tape.vintage == v].amount.sum()
        lost = tape[(tape.vintage == v) & (tape.status == "written_off")].written_off.sum()
        curve = vintages[vintages.vintage == v].cum_writeoff_rate.to_numpy()
        assert np.all(np.diff(curve) >= 0)
        assert curve[-1] == pytest.approx(lost / lent)


def test_roll_rates_agree_with_the_flows_of_the_monthly_metrics(economy):
    roll = economy.roll_rate_table()
    assert np.allclose(roll.sum(axis=1), 1.0)
    # Current loans fall 1+ DPD at the rate the metrics call the new-delinquency rate.
    df = economy.metrics()
    flow = df.newly_delinquent_balance.sum() / df.current_balance.sum()
    assert roll.loc["current", "1-30"] == pytest.approx(flow, rel=0.1)
    # With 120 and 180 DPD horizons, loans reach write-off from 90+ only.
    assert roll.loc["current", "written_off"] == 0 and roll.loc["90+", "written_off"] > 0


def test_save_loan_tape_frame_round_trips_through_parquet(tmp_path, economy):
    tape = economy.loan_tape()
    path = tmp_path / "tape.parquet"
    tape.to_parquet(path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, tape)


def test_recoveries_add_to_their_loans_rows_and_skip_loans_no_longer_kept():
    from model.tape import LoanTape

    tape = LoanTape(capacity=2)
    tape.open(0, np.arange(3), np.full(3, 100.0), np.full(3, 0.01), month=0)
    tape.add_recovered(np.array([0, -1, 2, 0]), np.array([1.0, 5.0, 2.0, 3.0]))
    assert tape.column("recovered").tolist() == [4.0, 0.0, 2.0]
    with pytest.raises(IndexError, match="loan id 3 is not on the tape"):
        tape.add_recovered(np.array([3]), np.array([1.0]))
