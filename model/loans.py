"""The contractual accounting of the loan book: amortising instalment loans.

The rules run over each lender's open loans, packed in borrower order
(:class:`~model.loan_book.LoanBook`): a borrower holds at most one loan at each lender
at a time (so a borrower may hold loans at several lenders).

A loan owes its ``balance``: the principal and interest not yet paid, of which
``arrears`` are instalments that have fallen due and are unpaid, and ``fees_due`` late
fees and penalty interest that are unpaid. Each month (the contract a bank's
credit-risk function uses):

1. :func:`fall_due`: interest accrues at the loan's rate on the balance net of fees,
   penalty interest at the policy's rate on the arrears (added to the fees due); the
   month's instalment falls due (the whole remainder in the final month or after
   maturity).
2. :func:`settle`: the payment (each loan's ``paid``, set by ``model.repayment``) goes
   to fees and penalty interest first, then to the oldest unpaid instalment
   (``PAYMENT_ORDERS``: a lender may take arrears before fees). If an instalment is
   left unpaid a late fee is charged. Days past due are contractual: ``dpd`` counts
   the months since the oldest unpaid instalment fell due, which is the number of
   instalments due and unpaid (30 days each) before maturity; a partial payment that
   clears whole instalments rolls the loan back a bucket, and the loan is current only
   when its arrears are cleared. A loan whose balance is paid closes.
3. write-off at the policy's DPD (:func:`past_due`); :func:`restructure` for relief (forbearance).

Money identity, per lender and month (tested)::

    balance change = originations + interest + fees - payments - write-offs - waived
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import njit

from model.loan_book import LoanBook, as_index

#: Names of the monthly DPD buckets, indexed by ``min(dpd, 4)``.
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
#: Missed instalments at which a loan counts as 90+ DPD (default, NPL).
DEFAULT_DPD_MONTHS = 4
#: How a payment is split: fees and penalty interest first (the usual consumer-credit
#: contract, and the snowball of the source material), or arrears first.
PAYMENT_ORDERS = ("fees_first", "arrears_first")
#: Most missed instalments at which a loan qualifies for relief (1-90 DPD).
RELIEF_DPD_MONTHS = DEFAULT_DPD_MONTHS - 1
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
#: The row kernels scan a row a block of slots at a time: the block's open slots are
#: listed first, without a branch, then worked on in order (so the same sums), which
#: spares a mispredicted branch on every slot where open and free slots mix at random.
BLOCK = 1024


@njit(cache=True, nogil=True, inline="always")
def open_in_block(is_open, start, end, buf):
    """List the open slots of ``start .. end - 1`` in ``buf``, in order; return how many."""
    k = 0
    for i in range(start, end):
        buf[k] = i
        k += is_open[i]
    return k


@njit(cache=True, nogil=True)
def _fall_due_row(
    borrower, is_open, balance, arrears, fees_due, rate, instalment, months_left, age, due,
    penalty, total_due, mode,
):  # fmt: skip
    # mode: 0 total_due not kept; 1 dues added to it; 2 dues written to it, one slot per
    # borrower (a dense row), free slots 0. ``borrower`` is empty for a dense row.
    dense = borrower.size == 0
    interest_total = 0.0
    penalty_total = 0.0
    buf = np.empty(BLOCK, np.int64)
    for start in range(0, balance.size, BLOCK):
        end = min(start + BLOCK, balance.size)
        if mode == 2:
            total_due[start:end] = 0.0  # a free slot owes nothing
        for t in range(open_in_block(is_open, start, end, buf)):
            i = buf[t]
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
            if mode == 1:
                total_due[i if dense else borrower[i]] += due[i]
            elif mode == 2:
                total_due[i] = due[i]
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
    is_open, balance, arrears, fees_due, instalment, dpd, forborne, regular, redefaulted,
    relief_month, due, paid, late_fee, fees_first, probation_months, month, redefault_window,
    cohort_redefaults, first_month, repaid, new_redefaults,
):  # fmt: skip
    fees_charged = 0.0
    current_balance = 0.0
    newly_delinquent = 0.0
    n_new = n_repaid = 0
    buf = np.empty(BLOCK, np.int64)
    for start in range(0, balance.size, BLOCK):
        for t in range(open_in_block(is_open, start, min(start + BLOCK, balance.size), buf)):
            i = buf[t]
            if due[i] <= 0.0:
                continue  # a loan made this month (it owes nothing yet)
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
                repaid[n_repaid] = i
                n_repaid += 1
    return fees_charged, current_balance, newly_delinquent, n_new, n_repaid


@njit(cache=True, nogil=True)
def _debt_service(held, slot_of, instalment, dense, borrowers, out):
    for k in range(borrowers.size):
        out[k] = 0.0
    for j in range(slot_of.shape[0]):  # in lender order, as a sum over lenders
        for k in range(borrowers.size):
            i = borrowers[k]
            if held[j, i]:  # (a flag per borrower: denser in the cache than slot_of)
                out[k] += instalment[j, i if dense[j] else slot_of[j, i]]


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
def _summarise_row(is_open, dpd, balance, forborne, redefaulted, counts, balances):
    # Local sums of the common case (not forborne) stay in registers.
    c0 = c1 = c2 = c3 = c4 = 0
    b0 = b1 = b2 = b3 = b4 = 0.0
    buf = np.empty(BLOCK, np.int64)
    for start in range(0, dpd.size, BLOCK):
        for t in range(open_in_block(is_open, start, min(start + BLOCK, dpd.size), buf)):
            i = buf[t]
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
        repaid: Borrowers whose loans were repaid in full (still to be closed), sorted.
        redefaulted: Borrowers whose forborne loans missed for the first time since
            relief (re-defaults).
        current_balance: Balance (after the month's interest) of the loans that were
            current before the payment.
        newly_delinquent: Of that, the balance of loans that fell 1+ DPD.
        repayments: Payments booked, in total.
        repaid_slots: The slots of the loans repaid, in the lender's row (as ``repaid``).
    """

    fees: float
    repaid: np.ndarray
    redefaulted: np.ndarray
    current_balance: float
    newly_delinquent: float
    repayments: float
    repaid_slots: np.ndarray


# ------------------------------------------------------------- reading the book
def bucket_counts(book: LoanBook, lender: int) -> np.ndarray:
    """Open loans per DPD bucket (``BUCKETS`` order) at ``lender`` (counts only: fast).

    Free slots hold DPD 0, so they are counted out of the current bucket.
    """
    dpd = book.slots("dpd", lender)
    late = [np.count_nonzero(dpd == k) for k in range(1, DEFAULT_DPD_MONTHS)]
    late.append(np.count_nonzero(dpd >= DEFAULT_DPD_MONTHS))
    return np.array([book.n_open[lender] - sum(late), *late], dtype=np.int64)


def summary(book: LoanBook, lender: int) -> BookSummary:
    """Counts and balances of ``lender``'s open loans by DPD bucket (one pass)."""
    counts = np.zeros((3, len(BUCKETS)), np.int64)
    balances = np.zeros((3, len(BUCKETS)))
    _summarise_row(
        *(book.slots(name, lender) for name in ("open", "dpd", "balance", "forborne",
                                                  "redefaulted")), counts, balances,
    )  # fmt: skip
    return BookSummary(
        counts.sum(axis=0), balances.sum(axis=0), counts[1] + counts[2], balances[1],
        balances[2],
    )  # fmt: skip


def debt_service(book: LoanBook, borrowers: np.ndarray, lender: int | None = None) -> np.ndarray:
    """Scheduled instalments of the open loans of ``borrowers``.

    Counts the loans at ``lender`` only if given, else at every lender.
    """
    borrowers = np.ascontiguousarray(as_index(borrowers, book.n_borrowers), dtype=np.int64)
    out = np.empty(borrowers.size)
    c = book.columns
    rows = slice(None) if lender is None else slice(lender, lender + 1)
    _debt_service(book.active[rows], book.slot_of[rows], c["instalment"][rows],
                  book.dense_flags()[rows], borrowers, out)  # fmt: skip
    return out


def describe_borrower(book: LoanBook, index: int) -> list[dict[str, Any]]:
    """The open loans of borrower ``index`` as plain dicts (for inspection)."""
    out = []
    for j, p in book.loans_of(index):
        c = {name: col[j, p] for name, col in book.columns.items()}
        out.append(
            {
                "lender": j,
                "loan_id": int(c["loan_id"]),
                "balance": float(c["balance"]),
                "principal": float(c["principal"]),
                "instalment": float(c["instalment"]),
                "annual_rate": float(c["rate"] * 12),
                "arrears": float(c["arrears"]),
                "fees_due": float(c["fees_due"]),
                "dpd": int(c["dpd"]) * 30,
                "months_left": int(c["months_left"]),
                "months_on_book": int(c["age"]),
                "forborne": bool(c["forborne"]),
            }
        )
    return out


# ------------------------------------------------------------- the month's rules
def originate(
    book: LoanBook,
    lender: int | np.ndarray,
    borrowers: np.ndarray,
    amount: np.ndarray,
    monthly_rate: np.ndarray,
    term: np.ndarray,
    tier: np.ndarray,
    month: int,
    loan_id: np.ndarray,
) -> np.ndarray:
    """Open new amortising loans for ``borrowers``; return their instalments.

    ``lender`` is one lender for all the loans, or one per loan, grouped (non-decreasing);
    a lender's borrowers are sorted and hold no loan there.
    """
    index = np.asarray(borrowers, np.int64).ravel()
    instalment = annuity_payment(amount, monthly_rate, term)

    def per_loan(values, dtype):  # scalars broadcast, as numpy assignment does
        return np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype), index.shape))

    rows = per_loan(lender, np.int64)
    if np.ndim(lender) == 0:
        slots = book.open_slots(int(lender), index)
    else:  # each lender's group of loans, in its row
        slots = np.empty(index.size, np.int64)
        starts = np.flatnonzero(np.diff(rows, prepend=-1))  # each lender's first loan
        for a, b in zip(starts, [*starts[1:], index.size], strict=True):
            slots[a:b] = book.open_slots(int(rows[a]), index[a:b])
    _open_loans(
        rows, slots, per_loan(loan_id, np.int64), per_loan(amount, float),
        per_loan(monthly_rate, float), per_loan(instalment, float), per_loan(term, np.int16),
        per_loan(tier, np.int8), int(month),
        *(book.columns[name] for name in _NEW_LOAN_FIELDS),
    )  # fmt: skip
    return instalment


#: The fields :func:`_open_loans` sets (every field of the book but its key and flag, and
#: ``paid``, which the next payment sets).
_NEW_LOAN_FIELDS = ("loan_id", "balance", "principal", "rate", "instalment", "term",
                    "months_left", "vintage", "tier", "arrears", "fees_due", "due", "dpd", "age",
                    "relieved", "forborne", "regular", "redefaulted", "relief_month")  # fmt: skip


@njit(cache=True, nogil=True)
def _open_loans(rows, slots, new_id, amount, monthly_rate, new_instalment, term, tier, month,
                loan_id, balance, principal, rate, instalment, term_row, months_left,
                vintage, tier_row, arrears, fees_due, due, dpd, age, relieved, forborne, regular,
                redefaulted, relief_month):  # fmt: skip
    for k in range(slots.size):
        j, s = rows[k], slots[k]
        loan_id[j, s] = new_id[k]
        balance[j, s] = principal[j, s] = amount[k]
        rate[j, s] = monthly_rate[k]
        instalment[j, s] = new_instalment[k]
        term_row[j, s] = months_left[j, s] = term[k]
        vintage[j, s] = month
        tier_row[j, s] = tier[k]
        arrears[j, s] = fees_due[j, s] = due[j, s] = 0.0  # (``paid``: the next payment sets it)
        dpd[j, s] = age[j, s] = regular[j, s] = 0
        relief_month[j, s] = 0
        relieved[j, s] = forborne[j, s] = redefaulted[j, s] = False


def fall_due(
    book: LoanBook,
    lender: int,
    penalty_monthly: float,
    total_due: np.ndarray | None = None,
    *,
    first: bool = False,
) -> float:
    """Accrue the month's interest on ``lender``'s loans and let the instalments fall due.

    Sets each loan's ``due`` (fees due plus arrears; ``model.repayment`` then sets its
    ``paid``).

    Args:
        book: The loan book (this lender's row updated in place).
        lender: Row of the lender.
        penalty_monthly: Penalty interest rate on arrears, monthly.
        total_due: Each borrower's dues, if kept: this lender's dues are added, so
            lenders taken in order sum as over the lenders' axis.
        first: Whether ``lender`` is the first lender added to ``total_due`` (its
            values are then overwritten, not added to).

    Returns:
        Interest and penalty interest accrued, in total.
    """
    mode = 0 if total_due is None else (2 if first and book.is_dense(lender) else 1)
    if total_due is None:
        total_due = np.empty(0)
    elif first and mode == 1:
        total_due[:] = 0.0
    names = ("open", "balance", "arrears", "fees_due", "rate", "instalment", "months_left",
             "age", "due")  # fmt: skip
    keys = np.empty(0, np.int64) if book.is_dense(lender) else book.slots("borrower", lender)
    interest, penalty = _fall_due_row(
        keys, *(book.slots(name, lender) for name in names), float(penalty_monthly), total_due,
        mode,
    )  # fmt: skip
    return interest + penalty


def settle(
    book: LoanBook,
    lender: int,
    *,
    late_fee: float,
    payment_order: str,
    probation_months: int,
    month: int,
    redefaults: RedefaultCohorts,
) -> Settlement:
    """Book the month's payments (each loan's ``paid``) on ``lender``'s loans.

    See the module docstring. Also serves forbearance: a forborne loan paid in full
    counts one more month of regular payment and leaves forbearance after
    ``probation_months``; a forborne loan that misses re-defaults at once (counted once
    per loan, in ``redefaults`` by its relief month). Loans with nothing due (made this
    month) are left alone.

    Args:
        book: The loan book (this lender's row updated in place).
        lender: Row of the lender.
        late_fee: Late fee per missed instalment, as a share of the instalment.
        payment_order: One of :data:`PAYMENT_ORDERS`.
        probation_months: Months of regular payment a forborne loan needs to leave
            forbearance.
        month: This month's number.
        redefaults: Re-default counts by relief month.
    """
    n = int(book.n_open[lender])
    repaid, new = np.empty(n, np.int64), np.empty(n, np.int64)
    names = ("open", "balance", "arrears", "fees_due", "instalment", "dpd", "forborne",
             "regular", "redefaulted", "relief_month", "due", "paid")  # fmt: skip
    fees, current, newly, n_new, n_repaid = _settle_row(
        *(book.slots(name, lender) for name in names),
        float(late_fee),
        payment_order == "fees_first",
        int(probation_months),
        int(month),
        int(redefaults.window),
        redefaults.redefaults[lender],
        int(redefaults.first_month),
        repaid,
        new,
    )
    paid = book.total("paid", lender)
    repaid = repaid[:n_repaid]
    redefaulted = book.borrowers_at(lender, new[:n_new])
    return Settlement(fees, book.borrowers_at(lender, repaid), redefaulted, current, newly, paid,
                      repaid)  # fmt: skip


@njit(cache=True, nogil=True)
def _past_due(dpd, n_slots, months, rows, slots):
    k = 0
    for j in range(n_slots.size):
        for s in range(n_slots[j]):
            if dpd[j, s] >= months[j]:
                rows[k] = j
                slots[k] = s
                k += 1
    return k


def past_due(book: LoanBook, months: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """The loans ``months`` (one for every lender, or one per lender) or more months past due.

    In one pass over every lender's row (a write-off horizon is such a bound); free slots
    hold DPD 0 (a bound is at least 1 month).

    Returns:
        ``(lenders, slots)``: each loan's lender (row) and slot, lender by lender in slot
        (borrower) order.
    """
    bound = np.maximum(np.broadcast_to(np.asarray(months, np.int64), book.n_lenders), 1)
    n = int(book.n_slots.sum())  # room for every slot: the kernel cannot write past it
    rows, slots = np.empty(n, np.int64), np.empty(n, np.int64)
    k = _past_due(book.columns["dpd"], book.n_slots, np.ascontiguousarray(bound), rows, slots)
    return rows[:k], slots[:k]


def relief_candidates(book: LoanBook, offers: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """The loans that qualify for relief at the lenders that ``offers`` it (one per lender).

    1-90 DPD and never relieved before; ``(lenders, slots)`` as :func:`past_due`.
    """
    never = np.iinfo(np.int16).max + 1  # a bound no DPD reaches: no candidates there
    rows, slots = past_due(book, np.where(offers, 1, never))
    c = book.columns
    qualifies = (c["dpd"][rows, slots] <= RELIEF_DPD_MONTHS) & ~c["relieved"][rows, slots]
    return rows[qualifies], slots[qualifies]


def restructure(
    book: LoanBook,
    lender: int | np.ndarray,
    slots: np.ndarray,
    *,
    waiver: float | np.ndarray,
    rate_cut: float | np.ndarray,
    extension: int | np.ndarray,
    month: int,
) -> np.ndarray:
    """Grant relief on the loans in ``lender``'s ``slots`` (open, unique): forbearance.

    A share ``waiver`` of the arrears and fees due is waived; the rest is capitalised
    into a new schedule (an instalment plan for the arrears) at a rate cut by
    ``rate_cut`` over the remaining term plus ``extension`` months. The loan is current
    under its new terms but forborne: it serves a probation of regular payments (see
    :func:`settle`) and counts as overdue in the underlying overdue rate meanwhile.
    ``lender`` and the terms are one for all the loans, or one per loan (several
    lenders' loans in one pass). A waiver that leaves nothing owed (a matured loan whose
    whole balance is arrears, with ``waiver = 1``) waives the whole balance and leaves
    it at exactly 0: the debt is settled, and the caller closes the loan.

    Returns:
        The amount waived per loan.
    """
    capacity = book.columns["balance"].shape[1]
    idx = np.asarray(lender, np.int64) * capacity + slots  # flat: (lender, slot) of each
    c = {name: book.columns[name].reshape(-1) for name in _RESTRUCTURED}
    waived = waiver * (c["arrears"][idx] + c["fees_due"][idx])
    settled = c["balance"][idx] - waived <= MONEY_TOLERANCE
    waived = np.where(settled, c["balance"][idx], waived)
    c["balance"][idx] -= waived
    c["arrears"][idx] = 0.0
    c["fees_due"][idx] = 0.0
    c["dpd"][idx] = 0
    c["rate"][idx] *= 1.0 - rate_cut
    left = np.maximum(c["months_left"][idx], 1) + extension
    c["months_left"][idx] = left
    c["term"][idx] += extension
    c["instalment"][idx] = annuity_payment(c["balance"][idx], c["rate"][idx], left)
    c["relieved"][idx] = True
    c["forborne"][idx] = True
    c["regular"][idx] = 0
    c["redefaulted"][idx] = False
    c["relief_month"][idx] = month
    return waived


#: The fields :func:`restructure` reads or sets.
_RESTRUCTURED = ("balance", "arrears", "fees_due", "dpd", "rate", "months_left", "term",
                 "instalment", "relieved", "forborne", "regular", "redefaulted",
                 "relief_month")  # fmt: skip


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
