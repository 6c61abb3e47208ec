"""A round of applications: every lender screens, sizes, prices and funds its own at once.

In a round each applicant applies to one lender. :func:`originate_round` takes the
round's applications grouped by lender and runs the rules over them in one pass, the
lenders' levers gathered into arrays indexed by each application's lender. Per lender
there remains only what is the lender's own: the cut-off in force (the dynamic rule's
floor on the share passing is over the lender's applicants), its funding line, the loans
opened in its row of the book, and its accounts. One lender's round is the same code
with one lender (``Lender.originate``).

The rules (``Lender.originate`` states them): approve when the lender can lend, the
observed score clears its cut-off, the loan (the amount wanted within the loan-to-income
and debt-to-income caps) is at least :data:`MIN_LOAN`, its tier's rate is within the
market's APR cap, and the funding line has room (best scores first when it binds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from model import loans
from model.loans import LoanBook
from model.population import PopulationParams
from model.tape import LoanTape

if TYPE_CHECKING:
    from model.lender import Lender

#: Observed-score lower bounds of tiers A, B, C (below C is D).
TIER_BOUNDS = (700.0, 650.0, 600.0)
#: Risk tiers A-D (scores above each bound, and below the last).
N_TIERS = len(TIER_BOUNDS) + 1
#: Applicants scoring below this are subprime (tiers C and D), for the access metrics.
SUBPRIME_BELOW = TIER_BOUNDS[1]
#: Smallest loan worth making.
MIN_LOAN = 300.0
#: Score points lost while the credit record shows a 90+ DPD default.
DAMAGED_RECORD_PENALTY = 150.0


class Applications(NamedTuple):
    """A round's applications, grouped by lender (``lender`` non-decreasing).

    Within a lender's group the borrowers are sorted and unique (each opens at most one
    loan there).

    Attributes:
        borrower: Borrower index of each application.
        lender: Position of its lender in the round's ``lenders``.
        score: The applicant's observed score at that lender.
        wanted: The amount asked for.
        reported_income: The monthly income reported.
        debt_service: Existing monthly instalments (the loans the lender sees).
        term_draw: U(0,1): the term, drawn from the lender's mix.
    """

    borrower: np.ndarray
    lender: np.ndarray
    score: np.ndarray
    wanted: np.ndarray
    reported_income: np.ndarray
    debt_service: np.ndarray
    term_draw: np.ndarray


class _Offers(NamedTuple):
    """What the lenders offer the applications that cleared their cut-offs."""

    tier: np.ndarray  # risk tier from the observed score (0 = A ... 3 = D)
    apr: np.ndarray  # the tier's annual rate
    term: np.ndarray  # the loan's term in months
    amount: np.ndarray  # the amount the lender would lend (below MIN_LOAN: none)


def observed_score(
    quality: np.ndarray,
    error: np.ndarray,
    damaged: np.ndarray,
    noise: float | np.ndarray,
    params: PopulationParams,
) -> np.ndarray:
    """Observed score (300-850) from standardised true quality and a lender's error.

    Args:
        quality: Standardised true quality of each applicant.
        error: The lender's standard-normal scoring error for each applicant.
        damaged: Whether the applicant's credit record shows a default (a penalty of
            :data:`DAMAGED_RECORD_PENALTY` points).
        noise: The lender's ``score_noise`` (one, or one per applicant).
        params: The population's score scale (``score_mean``, ``score_sd``).
    """
    raw = params.score_mean + params.score_sd * (quality + noise * error)
    return np.clip(raw - DAMAGED_RECORD_PENALTY * damaged, 300.0, 850.0)


def originate_round(
    lenders: Sequence[Lender],
    book: LoanBook,
    tape: LoanTape,
    apps: Applications,
    policy_rate: float,
    month: int,
    to_repay: bool = False,
) -> np.ndarray:
    """Screen, size, price and fund a round of applications; open the approved loans.

    Args:
        lenders: The lenders applied to (``apps.lender`` indexes them).
        book: The loan book (the loans open in each lender's row, ``Lender.index``).
        tape: The loan tape (new loans get a row, lender by lender).
        apps: The applications, grouped by lender.
        policy_rate: This month's policy rate.
        month: Month number (the loans' vintage).
        to_repay: Whether these are applications to repay another lender (counted also
            in ``applications_to_repay`` and ``approvals_to_repay``).

    Returns:
        The amount lent on each application (0 where refused).
    """
    bounds = lender_bounds(apps.lender, len(lenders))
    cutoff = np.array([
        lender.cutoff_for(apps.score[bounds[k] : bounds[k + 1]]) if lender.can_lend else np.inf
        for k, lender in enumerate(lenders)
    ])  # fmt: skip
    screened = np.flatnonzero(apps.score >= per_application(cutoff, apps.lender))
    groups = np.searchsorted(screened, bounds)  # each lender's screened applications
    offers = _offers(lenders, apps, screened, groups, policy_rate)
    approve = _approve(lenders, book, apps, screened, groups, offers)
    approved = screened[approve]
    lent = np.zeros(apps.borrower.size)
    lent[approved] = offers.amount[approve]
    if approved.size:  # (most applications to repay are all refused)
        _open(lenders, book, tape, apps, approved, _Offers(*(x[approve] for x in offers)), month)
    subprime = apps.score < SUBPRIME_BELOW
    counts = [  # per lender: subprime applications, approvals, subprime approvals
        np.diff(np.searchsorted(chosen, bounds))  # (sorted positions, grouped by lender)
        for chosen in (np.flatnonzero(subprime), approved, approved[subprime[approved]])
    ]
    for k, lender in enumerate(lenders):
        lender.book_round(
            int(bounds[k + 1] - bounds[k]),
            int(counts[0][k]),
            int(counts[1][k]),
            int(counts[2][k]),
            float(lent[bounds[k] : bounds[k + 1]].sum()),
            to_repay,
        )
    return lent


def _offers(
    lenders: Sequence[Lender],
    apps: Applications,
    screened: np.ndarray,
    groups: np.ndarray,
    policy_rate: float,
) -> _Offers:
    """Price each screened application by its score's tier, draw its term, size the loan.

    The amount is what the applicant wants within the lender's loan-to-income cap and
    debt-to-income cap (with existing instalments). Lender ``k``'s screened applications
    are ``screened[groups[k]:groups[k + 1]]``.
    """
    at, score = apps.lender[screened], apps.score[screened]
    tier = sum((score < bound).astype(np.int8) for bound in TIER_BOUNDS)  # bounds above it
    prices = [lender.prices(policy_rate) for lender in lenders]
    longest = max(lender.terms.size for lender in lenders)
    factor = np.zeros((len(lenders), N_TIERS, longest))
    terms = np.zeros((len(lenders), longest), np.int16)
    pick = np.empty(screened.size, np.int64)  # each application's term in its lender's mix
    for k, lender in enumerate(lenders):
        factor[k, :, : lender.terms.size] = prices[k][1]
        terms[k, : lender.terms.size] = lender.terms
        draw = apps.term_draw[screened[groups[k] : groups[k + 1]]]
        pick[groups[k] : groups[k + 1]] = np.minimum(
            np.searchsorted(lender.term_cdf, draw, side="right"), lender.terms.size - 1
        )
    max_dti = per_application([lender.policy.max_dti for lender in lenders], at)
    max_lti = per_application([lender.policy.max_loan_to_income for lender in lenders], at)
    income = apps.reported_income[screened]
    room = max_dti * income - apps.debt_service[screened]
    amount = np.minimum(apps.wanted[screened], max_lti * income)
    if len(lenders) == 1:  # (the same values, without gathering the lender's tables)
        factor, annual, terms = factor[0][tier, pick], prices[0][0][tier], terms[0][pick]
    else:
        annual = np.stack([p[0] for p in prices])[at, tier]
        factor, terms = factor[at, tier, pick], terms[at, pick]
    amount = np.minimum(amount, np.maximum(room, 0.0) * factor)
    return _Offers(tier, annual, terms, amount)


def _approve(
    lenders: Sequence[Lender],
    book: LoanBook,
    apps: Applications,
    screened: np.ndarray,
    groups: np.ndarray,
    offers: _Offers,
) -> np.ndarray:
    """Which screened applications are approved: large enough, within the APR cap, funded."""
    approve = offers.amount >= MIN_LOAN
    cap = [np.inf if x.rules.apr_cap is None else x.rules.apr_cap for x in lenders]
    if min(cap) < np.inf:  # a tier priced above the cap: no loan
        approve &= offers.apr <= per_application(cap, apps.lender[screened])
    for k, lender in enumerate(lenders):
        mine = slice(groups[k], groups[k + 1])
        if mine.stop > mine.start:  # (a view: rationing writes through)
            lender.ration_to_funding(
                book, approve[mine], offers.amount[mine], apps.score[screened[mine]]
            )
    return approve


def _open(
    lenders: Sequence[Lender],
    book: LoanBook,
    tape: LoanTape,
    apps: Applications,
    approved: np.ndarray,
    offers: _Offers,
    month: int,
) -> None:
    """Open the approved loans (grouped by lender): their tape rows, then the loans."""
    at, chosen, monthly = apps.lender[approved], apps.borrower[approved], offers.apr / 12
    rows = per_application([lender.index for lender in lenders], at)
    ids = tape.open(rows, chosen, offers.amount, monthly, month)
    loans.originate(book, rows, chosen, offers.amount, monthly, offers.term, offers.tier, month,
                    ids)  # fmt: skip


def per_application(values: Sequence[Any], lender: np.ndarray) -> Any:
    """Per-lender ``values`` for each application of lenders ``lender``.

    With one lender its value itself (numpy broadcasts it: the same results, without a
    gather over the applications).
    """
    return values[0] if len(values) == 1 else np.asarray(values)[lender]


def lender_bounds(lender: np.ndarray, n_lenders: int) -> np.ndarray:
    """Where each lender's items start in an array grouped by ``lender`` (non-decreasing).

    Lender ``k``'s are ``[bounds[k]:bounds[k + 1]]``.
    """
    return np.searchsorted(lender, np.arange(n_lenders + 1))


def ration(approve: np.ndarray, amount: np.ndarray, score: np.ndarray, capacity: float) -> None:
    """Keep the approvals the funding line has room for, best scores first (in place)."""
    if approve.any() and amount[approve].sum() > capacity:
        order = np.flatnonzero(approve)[np.argsort(-score[approve], kind="stable")]
        fits = np.cumsum(amount[order]) <= capacity
        approve[:] = False
        approve[order[fits]] = True
