"""The loan book and its contractual accounting: amortising instalment loans as arrays.

Every array has shape ``(n_lenders, n_borrowers)``: a borrower holds at most one loan
at each lender at a time (so a borrower may hold loans at several lenders).

A loan owes its ``balance``: the principal and interest not yet paid, of which
``arrears`` are instalments that have fallen due and are unpaid, and ``fees_due`` late
fees and penalty interest that are unpaid. Each month (the contract a bank's
credit-risk function uses):

1. :func:`fall_due`: interest accrues at the loan's rate on the balance net of fees,
   penalty interest at the policy's rate on the arrears (added to the fees due); the
   month's instalment falls due (the whole remainder in the final month or after
   maturity).
2. :func:`settle`: the payment goes to fees and penalty interest first, then to the
   oldest unpaid instalment (``PAYMENT_ORDERS``: a lender may take arrears before
   fees). If an instalment is left unpaid a late fee is charged. Days past due are
   contractual: ``dpd`` counts the months since the oldest unpaid instalment fell
   due, which is the number of instalments due and unpaid (30 days each) before
   maturity; a partial payment that clears whole instalments rolls the loan back a
   bucket, and the loan is current only when its arrears are cleared. A loan whose
   balance is paid closes.
3. :func:`write_off` at the policy's DPD; :func:`restructure` for relief (forbearance).

Money identity, per lender and month (tested)::

    balance change = originations + interest + fees - payments - write-offs - waived
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import njit

#: Names of the monthly DPD buckets, indexed by ``min(dpd, 4)``.
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
#: Missed instalments at which a loan counts as 90+ DPD (default, NPL).
DEFAULT_DPD_MONTHS = 4
#: How a payment is split: fees and penalty interest first (the usual consumer-credit
#: contract, and the snowball of the source material), or arrears first.
PAYMENT_ORDERS = ("fees_first", "arrears_first")
#: Amounts below this are rounding: a loan owing less has paid.
MONEY_TOLERANCE = 1e-6


def annuity_payment(
    principal: np.ndarray, monthly_rate: np.ndarray, months: np.ndarray
) -> np.ndarray:
    """Level monthly instalment that repays ``principal`` over ``months`` at ``monthly_rate``."""
    months = np.maximum(months, 1)
    rate = np.asarray(monthly_rate, dtype=float)
    growth = (1.0 + rate) ** (-np.asarray(months, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        pay = np.where(rate > 1e-12, principal * rate / (1.0 - growth), principal / months)
    return pay


def annuity_factor(monthly_rate: float, months: int) -> float:
    """Present value of 1 a month for ``months`` months (principal per unit instalment)."""
    if monthly_rate <= 1e-12:
        return float(months)
    return float((1.0 - (1.0 + monthly_rate) ** (-months)) / monthly_rate)


# ---------------------------------------------------------------- one loan's rules
@njit(cache=True)
def unpaid_instalments(arrears: float, instalment: float) -> int:
    """Instalments due and unpaid: whole instalments of arrears, a part counting as one."""
    if arrears <= MONEY_TOLERANCE:
        return 0
    if instalment <= MONEY_TOLERANCE:
        return 1
    return int(np.ceil(arrears / instalment - 1e-9))


@njit(cache=True)
def allocate_payment(
    paid: float, fees_due: float, arrears: float, fees_first: bool
) -> tuple[float, float]:
    """Split a payment between fees (and penalty interest) and arrears, oldest first.

    Returns:
        ``(to_fees, to_arrears)``; the rest of the payment (if any) is left over.
    """
    if fees_first:
        to_fees = min(paid, fees_due)
        return to_fees, min(paid - to_fees, arrears)
    to_arrears = min(paid, arrears)
    return min(paid - to_arrears, fees_due), to_arrears


@njit(cache=True)
def next_dpd(dpd: int, before: int, after: int) -> int:
    """Months past due of the oldest unpaid instalment after this month's payment.

    Args:
        dpd: Last month's value (months since the oldest unpaid instalment fell due).
        before: Unpaid instalments before the payment (this month's included).
        after: Unpaid instalments after the payment.

    A month passes (+1) and each instalment cleared moves the oldest unpaid one a month
    later (-1 each). Before maturity one instalment falls due a month, so the result
    equals ``after``; after maturity the oldest unpaid instalment keeps ageing.
    """
    if after == 0:
        return 0
    return max(dpd + 1 - (before - after), 1)


# ---------------------------------------------------------------- the book's rows
@njit(cache=True, nogil=True)
def _fall_due_row(
    active, balance, arrears, fees_due, rate, instalment, months_left, age, penalty, due,
    total_due,
):  # fmt: skip
    interest_total = 0.0
    penalty_total = 0.0
    keep_total = total_due.size > 0
    for i in range(active.size):
        if not active[i]:
            due[i] = 0.0
            continue
        interest = (balance[i] - fees_due[i]) * rate[i]
        charge = arrears[i] * penalty
        balance[i] += interest + charge
        fees_due[i] += charge
        not_due = balance[i] - fees_due[i] - arrears[i]
        if months_left[i] > 1:
            arrears[i] += min(instalment[i], not_due)
            months_left[i] -= 1
        else:  # the final instalment, or after maturity: everything left falls due
            arrears[i] += not_due
            months_left[i] = 0
        age[i] += 1
        due[i] = fees_due[i] + arrears[i]
        if keep_total:
            total_due[i] += due[i]
        interest_total += interest
        penalty_total += charge
    return interest_total, penalty_total


@njit(cache=True, nogil=True)
def _pay(paid, balance, arrears, fees_due, instalment, late_fee, fees_first):
    """Book one loan's payment; charge the late fee if an instalment is left unpaid.

    Returns:
        ``(balance, arrears, fees_due, fee)``: the loan's amounts after the payment, and
        the late fee charged (0 when nothing is left unpaid).
    """
    to_fees, to_arrears = allocate_payment(paid, fees_due, arrears, fees_first)
    fees_due -= to_fees
    arrears -= to_arrears
    balance -= paid
    if arrears <= MONEY_TOLERANCE:
        arrears = 0.0
    if fees_due <= MONEY_TOLERANCE:
        fees_due = 0.0
    fee = 0.0
    if arrears > 0.0:
        fee = late_fee * instalment
        fees_due += fee
        balance += fee
    return balance, arrears, fees_due, fee


@njit(cache=True, nogil=True)
def _probation(missed, dpd, regular, redefaulted, probation_months):
    """One month of a forborne loan: a regular payment, or a miss (a re-default).

    Returns:
        ``(regular, forborne, redefaults)``: months of regular payment, whether the loan
        is still forborne, and whether it re-defaults now (its first miss in forbearance).
    """
    if missed:
        return 0, True, not redefaulted
    if dpd == 0:
        regular += 1
        return regular, regular < probation_months, False
    return regular, True, False


@njit(cache=True, nogil=True)
def _settle_row(
    active,
    balance,
    arrears,
    fees_due,
    instalment,
    dpd,
    forborne,
    regular,
    redefaulted,
    relief_month,
    due,
    paid,
    late_fee,
    fees_first,
    probation_months,
    month,
    redefault_window,
    cohort_redefaults,
    first_month,
    repaid,
    new_redefaults,
):
    fees_charged = 0.0
    current_balance = 0.0
    newly_delinquent = 0.0
    n_new = 0
    for i in range(active.size):
        repaid[i] = False
        if not active[i] or due[i] <= 0.0:
            continue  # no loan, or made this month (it owes nothing yet)
        was_current = dpd[i] == 0
        owed = balance[i]
        before = unpaid_instalments(arrears[i], instalment[i])
        balance[i], arrears[i], fees_due[i], fee = _pay(
            paid[i], balance[i], arrears[i], fees_due[i], instalment[i], late_fee, fees_first
        )
        fees_charged += fee
        missed = arrears[i] > 0.0
        dpd[i] = next_dpd(dpd[i], before, unpaid_instalments(arrears[i], instalment[i]))
        if was_current:
            current_balance += owed
            if dpd[i] > 0:
                newly_delinquent += owed
        if forborne[i]:
            regular[i], forborne[i], redefaults = _probation(
                missed, dpd[i], regular[i], redefaulted[i], probation_months
            )
            if redefaults:
                redefaulted[i] = True
                new_redefaults[n_new] = i
                n_new += 1
                if month - relief_month[i] <= redefault_window:
                    cohort_redefaults[relief_month[i] - first_month] += 1
        if balance[i] <= MONEY_TOLERANCE and not missed:
            balance[i] = 0.0
            fees_due[i] = 0.0
            repaid[i] = True
    return fees_charged, current_balance, newly_delinquent, n_new


@njit(cache=True, nogil=True)
def _empty_slots(borrowers, active, loan_id, balance, arrears, fees_due, dpd, months_left,
                 forborne):  # fmt: skip
    for i in borrowers:
        active[i] = False
        loan_id[i] = -1
        balance[i] = 0.0
        arrears[i] = 0.0
        fees_due[i] = 0.0
        dpd[i] = 0
        months_left[i] = 0
        forborne[i] = False


def _as_index(borrowers: np.ndarray) -> np.ndarray:
    """Borrower indices as an integer array (a boolean mask selects, as in numpy)."""
    index = np.asarray(borrowers)
    if index.dtype == bool:
        return np.flatnonzero(index)
    return index.astype(np.intp, copy=False) if index.size == 0 else index


@njit(cache=True, nogil=True)
def _open_slots(borrowers, amount, monthly_rate, term, tier, month, new_id, new_instalment,
                active, loan_id, balance, principal, arrears, fees_due, rate, instalment,
                term_row, months_left, dpd, age, vintage, tier_row, relieved, forborne,
                regular, redefaulted):  # fmt: skip
    for k in range(borrowers.size):
        i = borrowers[k]
        active[i] = True
        loan_id[i] = new_id[k]
        balance[i] = amount[k]
        principal[i] = amount[k]
        arrears[i] = 0.0
        fees_due[i] = 0.0
        rate[i] = monthly_rate[k]
        instalment[i] = new_instalment[k]
        term_row[i] = term[k]
        months_left[i] = term[k]
        dpd[i] = 0
        age[i] = 0
        vintage[i] = month
        tier_row[i] = tier[k]
        relieved[i] = False
        forborne[i] = False
        regular[i] = 0
        redefaulted[i] = False


@njit(cache=True, nogil=True)
def _debt_service(instalment, active, borrowers, out):
    for k in range(borrowers.size):
        i = borrowers[k]
        total = 0.0
        for j in range(active.shape[0]):  # in lender order, as a sum over axis 0
            if active[j, i]:
                total += instalment[j, i]
        out[k] = total


class BookSummary(NamedTuple):
    """A lender's open loans by DPD bucket (``BUCKETS`` order): all, and the forborne.

    Attributes:
        counts: Open loans per bucket.
        balances: Their balance per bucket.
        forborne_counts: Forborne loans per bucket (re-defaulted or not).
        forborne_balances: Balance of the forborne loans not re-defaulted, per bucket.
        redefaulted_balances: Balance of the forborne loans re-defaulted, per bucket.
    """

    counts: np.ndarray
    balances: np.ndarray
    forborne_counts: np.ndarray
    forborne_balances: np.ndarray
    redefaulted_balances: np.ndarray


@njit(cache=True, nogil=True)
def _summarise_row(active, dpd, balance, forborne, redefaulted, counts, balances):
    # Local sums of the common case (not forborne) stay in registers.
    c0 = c1 = c2 = c3 = c4 = 0
    b0 = b1 = b2 = b3 = b4 = 0.0
    for i in range(active.size):
        if not active[i]:
            continue
        d = dpd[i]
        if forborne[i]:
            bucket = min(d, DEFAULT_DPD_MONTHS)
            row = 2 if redefaulted[i] else 1
            counts[row, bucket] += 1
            balances[row, bucket] += balance[i]
        elif d == 0:
            c0 += 1
            b0 += balance[i]
        elif d == 1:
            c1 += 1
            b1 += balance[i]
        elif d == 2:
            c2 += 1
            b2 += balance[i]
        elif d == 3:
            c3 += 1
            b3 += balance[i]
        else:
            c4 += 1
            b4 += balance[i]
    counts[0, 0], counts[0, 1], counts[0, 2], counts[0, 3], counts[0, 4] = c0, c1, c2, c3, c4
    balances[0, 0], balances[0, 1], balances[0, 2] = b0, b1, b2
    balances[0, 3], balances[0, 4] = b3, b4


class Settlement(NamedTuple):
    """What :func:`settle` did to one lender's loans this month.

    Attributes:
        fees: Late fees charged, in total.
        repaid: Mask over borrowers of the loans repaid in full (still to be closed).
        redefaulted: Borrower indices of forborne loans that missed for the first time
            since relief (re-defaults).
        current_balance: Balance (after the month's interest) of the loans that were
            current before the payment.
        newly_delinquent: Of that, the balance of loans that fell 1+ DPD.
    """

    fees: float
    repaid: np.ndarray
    redefaulted: np.ndarray
    current_balance: float
    newly_delinquent: float


class LoanBook:
    """Structure of arrays for every loan slot, shape ``(n_lenders, n_borrowers)``.

    Attributes:
        active: Whether the slot holds an open loan.
        loan_id: Row of the loan in the loan tape (-1 when empty).
        balance: Principal, interest, fees and penalty interest owed.
        arrears: Instalments due and unpaid (principal and interest).
        fees_due: Late fees and penalty interest due and unpaid.
        principal: Amount lent.
        rate: Monthly contract rate (cut by relief).
        instalment: Scheduled monthly instalment.
        term: Contract term in months (extended by relief).
        months_left: Instalments not yet fallen due.
        dpd: Months since the oldest unpaid instalment fell due (days past due / 30).
        age: Months on book.
        vintage: Month of origination.
        tier: Risk tier at origination (0 = A ... 3 = D).
        relieved: Whether the loan was ever granted relief (once per loan).
        forborne: Whether the loan is under forbearance (relief granted, probation not
            yet served).
        regular: Consecutive months of regular payment since relief (probation).
        redefaulted: Whether the loan missed a payment while forborne.
        relief_month: Month relief was granted.
    """

    def __init__(self, n_lenders: int, n_borrowers: int) -> None:
        shape = (n_lenders, n_borrowers)
        self.active = np.zeros(shape, bool)
        self.loan_id = np.full(shape, -1, np.int64)
        self.balance = np.zeros(shape)
        self.arrears = np.zeros(shape)
        self.fees_due = np.zeros(shape)
        self.principal = np.zeros(shape)
        self.rate = np.zeros(shape)
        self.instalment = np.zeros(shape)
        self.term = np.zeros(shape, np.int16)
        self.months_left = np.zeros(shape, np.int16)
        self.dpd = np.zeros(shape, np.int16)
        self.age = np.zeros(shape, np.int16)
        self.vintage = np.zeros(shape, np.int32)
        self.tier = np.zeros(shape, np.int8)
        self.relieved = np.zeros(shape, bool)
        self.forborne = np.zeros(shape, bool)
        self.regular = np.zeros(shape, np.int16)
        self.redefaulted = np.zeros(shape, bool)
        self.relief_month = np.zeros(shape, np.int32)

    def bucket_counts(self, lender: int) -> np.ndarray:
        """Open loans per DPD bucket (``BUCKETS`` order) at ``lender`` (counts only: fast).

        Closed slots hold DPD 0, so they are counted out of the current bucket.
        """
        dpd = self.dpd[lender]
        late = [np.count_nonzero(dpd == k) for k in range(1, DEFAULT_DPD_MONTHS)]
        late.append(np.count_nonzero(dpd >= DEFAULT_DPD_MONTHS))
        total = np.count_nonzero(self.active[lender])
        return np.array([total - sum(late), *late], dtype=np.int64)

    def summary(self, lender: int) -> BookSummary:
        """Counts and balances of ``lender``'s open loans by DPD bucket (one pass)."""
        counts = np.zeros((3, len(BUCKETS)), np.int64)
        balances = np.zeros((3, len(BUCKETS)))
        _summarise_row(
            self.active[lender], self.dpd[lender], self.balance[lender], self.forborne[lender],
            self.redefaulted[lender], counts, balances,
        )  # fmt: skip
        return BookSummary(
            counts.sum(axis=0), balances.sum(axis=0), counts[1] + counts[2], balances[1],
            balances[2],
        )  # fmt: skip

    def debt_service(self, borrowers: np.ndarray, lender: int | None = None) -> np.ndarray:
        """Scheduled instalments of the open loans of ``borrowers``.

        Counts the loans at ``lender`` only if given, else at every lender.
        """
        if lender is not None:
            return self.instalment[lender, borrowers] * self.active[lender, borrowers]
        borrowers = _as_index(borrowers)
        out = np.empty(borrowers.size)
        _debt_service(self.instalment, self.active, borrowers, out)
        return out

    def originate(
        self,
        lender: int,
        borrowers: np.ndarray,
        amount: np.ndarray,
        monthly_rate: np.ndarray,
        term: np.ndarray,
        tier: np.ndarray,
        month: int,
        loan_id: np.ndarray,
    ) -> np.ndarray:
        """Open new loans at ``lender`` for the given borrower indices.

        Returns:
            Their instalments.
        """
        j = lender
        borrowers = _as_index(borrowers)
        instalment = annuity_payment(amount, monthly_rate, term)

        def per_loan(values, dtype=None):  # scalars broadcast, as numpy assignment does
            return np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype), borrowers.shape))

        _open_slots(
            borrowers, per_loan(amount, float), per_loan(monthly_rate, float), per_loan(term),
            per_loan(tier), int(month), per_loan(loan_id), per_loan(instalment, float),
            self.active[j], self.loan_id[j], self.balance[j],
            self.principal[j], self.arrears[j], self.fees_due[j], self.rate[j],
            self.instalment[j], self.term[j], self.months_left[j], self.dpd[j], self.age[j],
            self.vintage[j], self.tier[j], self.relieved[j], self.forborne[j], self.regular[j],
            self.redefaulted[j],
        )  # fmt: skip
        return instalment

    def close(self, lender: int, borrowers: np.ndarray) -> None:
        """Empty the slots of closed or written-off loans."""
        j = lender
        _empty_slots(
            borrowers, self.active[j], self.loan_id[j], self.balance[j], self.arrears[j],
            self.fees_due[j], self.dpd[j], self.months_left[j], self.forborne[j],
        )  # fmt: skip

    def describe_borrower(self, index: int) -> list[dict[str, Any]]:
        """The open loans of borrower ``index`` as plain dicts (for inspection)."""
        out = []
        for j in np.flatnonzero(self.active[:, index]):
            out.append(
                {
                    "lender": int(j),
                    "loan_id": int(self.loan_id[j, index]),
                    "balance": float(self.balance[j, index]),
                    "principal": float(self.principal[j, index]),
                    "instalment": float(self.instalment[j, index]),
                    "annual_rate": float(self.rate[j, index] * 12),
                    "arrears": float(self.arrears[j, index]),
                    "fees_due": float(self.fees_due[j, index]),
                    "dpd": int(self.dpd[j, index]) * 30,
                    "months_left": int(self.months_left[j, index]),
                    "months_on_book": int(self.age[j, index]),
                    "forborne": bool(self.forborne[j, index]),
                }
            )
        return out


# ------------------------------------------------------------- the month's rules
def fall_due(
    book: LoanBook,
    lender: int,
    penalty_monthly: float,
    due: np.ndarray | None = None,
    total_due: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Accrue the month's interest on ``lender``'s loans and let the instalments fall due.

    Args:
        book: The loan book (this lender's row updated in place).
        lender: Row of the lender.
        penalty_monthly: Penalty interest rate on arrears, monthly.
        due: Where to write the amount due per borrower (a new array if None).
        total_due: Each borrower's dues at the lenders before this one, if kept (None:
            not kept): this lender's dues are added, so lenders taken in order sum as
            ``due.sum(axis=0)`` does.

    Returns:
        ``(interest, due)``: interest and penalty interest accrued in total, and the
        amount due per borrower (fees due plus arrears).
    """
    j = lender
    n = book.active.shape[1]
    due = np.empty(n) if due is None else due
    total_due = np.empty(0) if total_due is None else total_due
    interest, penalty = _fall_due_row(
        book.active[j],
        book.balance[j],
        book.arrears[j],
        book.fees_due[j],
        book.rate[j],
        book.instalment[j],
        book.months_left[j],
        book.age[j],
        float(penalty_monthly),
        due,
        total_due,
    )
    return interest + penalty, due


def settle(
    book: LoanBook,
    lender: int,
    due: np.ndarray,
    paid: np.ndarray,
    *,
    late_fee: float,
    payment_order: str,
    probation_months: int,
    month: int,
    redefaults: RedefaultCohorts,
) -> Settlement:
    """Book the month's payments on ``lender``'s loans (see the module docstring).

    Also serves forbearance: a forborne loan paid in full counts one more month of
    regular payment and leaves forbearance after ``probation_months``; a forborne loan
    that misses re-defaults at once (counted once per loan, in ``redefaults`` by its
    relief month).

    Args:
        book: The loan book (this lender's row updated in place).
        lender: Row of the lender.
        due: Amount due per borrower (from :func:`fall_due`; 0 for loans made this month).
        paid: Amount paid per borrower (at most ``due``).
        late_fee: Late fee per missed instalment, as a share of the instalment.
        payment_order: One of :data:`PAYMENT_ORDERS`.
        probation_months: Months of regular payment a forborne loan needs to leave
            forbearance.
        month: This month's number.
        redefaults: Re-default counts by relief month.
    """
    j = lender
    repaid = np.empty(book.active.shape[1], bool)
    new = np.empty(book.active.shape[1], np.intp)
    fees, current, newly, n_new = _settle_row(
        book.active[j],
        book.balance[j],
        book.arrears[j],
        book.fees_due[j],
        book.instalment[j],
        book.dpd[j],
        book.forborne[j],
        book.regular[j],
        book.redefaulted[j],
        book.relief_month[j],
        due,
        paid,
        float(late_fee),
        payment_order == "fees_first",
        int(probation_months),
        int(month),
        int(redefaults.window),
        redefaults.redefaults[j],
        int(redefaults.first_month),
        repaid,
        new,
    )
    return Settlement(fees, repaid, new[:n_new].copy(), current, newly)


def write_off(book: LoanBook, lender: int, writeoff_months: int) -> np.ndarray:
    """Borrower indices of ``lender``'s loans at or past ``writeoff_months`` months past due."""
    return np.flatnonzero(book.dpd[lender] >= writeoff_months)  # only open loans have DPD


def restructure(
    book: LoanBook,
    lender: int,
    borrowers: np.ndarray,
    *,
    waiver: float,
    rate_cut: float,
    extension: int,
    month: int,
) -> np.ndarray:
    """Grant relief on ``lender``'s loans of ``borrowers``: forbearance.

    A share ``waiver`` of the arrears and fees due is waived; the rest is capitalised
    into a new schedule (an instalment plan for the arrears) at a rate cut by
    ``rate_cut`` over the remaining term plus ``extension`` months. The loan is current
    under its new terms but forborne: it serves a probation of regular payments (see
    :func:`settle`) and counts as overdue in the underlying overdue rate meanwhile.

    Returns:
        The amount waived per loan.
    """
    j, idx = lender, borrowers
    waived = waiver * (book.arrears[j, idx] + book.fees_due[j, idx])
    book.balance[j, idx] -= waived
    book.arrears[j, idx] = 0.0
    book.fees_due[j, idx] = 0.0
    book.dpd[j, idx] = 0
    book.rate[j, idx] *= 1.0 - rate_cut
    left = np.maximum(book.months_left[j, idx], 1) + extension
    book.months_left[j, idx] = left
    book.term[j, idx] += extension
    book.instalment[j, idx] = annuity_payment(book.balance[j, idx], book.rate[j, idx], left)
    book.relieved[j, idx] = True
    book.forborne[j, idx] = True
    book.regular[j, idx] = 0
    book.redefaulted[j, idx] = False
    book.relief_month[j, idx] = month
    return waived


class RedefaultCohorts:
    """Relief granted and re-defaults within ``window`` months, by lender and relief month.

    Args:
        n_lenders: Number of lenders.
        first_month: The first month simulated (the first burn-in month).
        months: Months covered (grown on demand).
        window: Re-defaults count if they come at most this many months after relief.
    """

    def __init__(self, n_lenders: int, first_month: int, months: int, window: int = 12) -> None:
        self.first_month = first_month
        self.window = window
        self.granted = np.zeros((n_lenders, months), np.int64)
        self.redefaults = np.zeros((n_lenders, months), np.int64)

    def grow(self, last_month: int) -> None:
        """Cover months up to ``last_month``."""
        months = last_month - self.first_month + 1
        if months <= self.granted.shape[1]:
            return
        extra = ((0, 0), (0, months - self.granted.shape[1]))
        self.granted = np.pad(self.granted, extra)
        self.redefaults = np.pad(self.redefaults, extra)

    def record_grants(self, lender: int, month: int, count: int) -> None:
        """Add ``count`` loans relieved by ``lender`` in ``month``."""
        self.granted[lender, month - self.first_month] += count

    def closed_cohorts(self, lender: int, month: int) -> tuple[int, int]:
        """Relieved loans and their re-defaults, over the cohorts whose window closed lately.

        The cohorts relieved ``window`` to ``2 * window - 1`` months before ``month``:
        their ``window``-month re-default count is final.
        """
        last = month - self.window - self.first_month
        first = max(last - self.window + 1, 0)
        if last < 0:
            return 0, 0
        return (
            int(self.granted[lender, first : last + 1].sum()),
            int(self.redefaults[lender, first : last + 1].sum()),
        )
