"""The market of lenders: how borrowers choose, how investors fund, what regulators allow.

:class:`MarketRules` holds the market-wide levers (each declared once, with its range,
unit and meaning); the functions here are the market's rules over arrays:

- :func:`choose_lenders`: each applicant picks, among the lenders where they hold no
  loan, the one of highest utility (:func:`utilities`) plus a Gumbel taste draw (a
  multinomial logit over price, the lender's brand, a rejection remembered for some
  months, and the lender of the borrower's last loan). With every coefficient 0 the
  choice is uniform at random. :func:`choose_applied_lenders` is the same choice read
  from the borrowers' :class:`MarketMemory` in one compiled pass (the same result).
- :func:`investor_confidence`: an investor-funded lender's funding line follows its
  investors' confidence, which falls with its own losses and overdue and with failures
  of peers (the common signal of the 2018 P2P runs, DOMAIN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numba import njit

from model.params import Parameters, lever

#: How a lender is funded: stable deposits or credit lines, or investors who can run.
FUNDING_KINDS = ("stable", "investors")


@dataclass(frozen=True)
class MarketRules(Parameters):
    """Market-wide levers: borrowers' choice of lender, investor funding, regulation.

    What each lever means, its unit and range: :meth:`describe`. The defaults are a
    market without these mechanisms: choice at random, no cap, no limits, no contagion.
    """

    price_sensitivity: float = lever(
        0.0,
        low=0,
        high=1000,
        unit="utility per unit of annual rate",
        group="choice",
        label="Price sensitivity",
        description="How much a higher annual rate lowers a lender's pull on applicants "
        "(logit coefficient; 10 halves the odds of a lender 7 points dearer). Karlan and "
        "Zinman (2008) find demand flat for price cuts and falling for rises: a lever to "
        "set, not a fitted value.",
    )
    rejection_penalty: float = lever(
        0.0,
        low=0,
        high=100,
        unit="utility",
        group="choice",
        label="Refusal penalty",
        description="Pull lost by a lender that refused the applicant within the last "
        "rejection_memory months (approval odds learned from rejections).",
    )
    reapply_share: float = lever(
        0.0,
        low=0,
        high=1,
        unit="share of refused applicants",
        group="choice",
        label="Re-application share",
        description="Share of refused applicants who apply at once, the same month, to "
        "their next choice of lender (where they hold no loan): a lender that tightens "
        "sends the applicants it refuses to its rivals. Each re-application counts as an "
        "application at the second lender (approval rates are per application).",
    )
    rejection_memory: int = lever(
        6,
        low=0,
        high=60,
        integer=True,
        unit="months",
        group="choice",
        label="Refusal memory",
        description="Months a refusal is remembered.",
    )
    switching_cost: float = lever(
        0.0,
        low=0,
        high=100,
        unit="utility",
        group="choice",
        label="Switching cost",
        description="Extra pull of the lender of the borrower's last loan.",
    )
    apr_cap: float | None = lever(
        None,
        low=0,
        high=10,
        low_open=True,
        unit="annual rate",
        group="regulation",
        label="APR cap",
        description="Largest annual rate a loan may carry (China: 24% enforceable, 36% "
        "void above); applicants whose tier is priced above it are refused. None: no cap.",
    )
    max_collection_stage: int = lever(
        4,
        low=0,
        high=4,
        integer=True,
        unit="stage",
        group="regulation",
        label="Last collection stage",
        description="Last collection stage allowed (1 reminder, 2 phone, 3 agency, 4 legal; "
        "0 forbids even reminders): loans further overdue stay at it.",
    )
    max_collection_intensity: float = lever(
        1.0,
        low=0,
        high=1,
        unit="0-1",
        group="regulation",
        label="Max. collection intensity",
        description="Cap on every lender's collection intensity (a cap on contact).",
    )
    shared_bureau: bool = lever(
        False,
        group="regulation",
        label="Mandatory credit bureau",
        description="A mandatory credit bureau: every lender sees the applicant's loans "
        "at all lenders, whatever its own sees_other_loans.",
    )
    regulatory_capital_ratio: float = lever(
        0.0,
        low=0,
        high=1,
        unit="share of the book",
        group="regulation",
        label="Regulatory min. capital ratio",
        description="Regulatory minimum of equity over book for every lender (the higher "
        "of this and the lender's own applies).",
    )
    investor_loss_tolerance: float = lever(
        0.2,
        low=0,
        high=10,
        low_open=True,
        unit="annual loss rate",
        group="funding",
        label="Investors' loss tolerance",
        description="Annual net loss rate (of the book) at which an investor-funded "
        "lender's investors want all their money back.",
    )
    investor_overdue_sensitivity: float = lever(
        0.0,
        low=0,
        high=100,
        unit="confidence per unit of overdue rate",
        group="funding",
        label="Investors' overdue sensitivity",
        description="Confidence investors lose per unit of the lender's overdue rate (1+ "
        "DPD, share of its loans) above investor_overdue_norm: platforms publish their "
        "overdue rates and investors read them before losses are booked (0: investors "
        "watch losses only).",
    )
    investor_overdue_norm: float = lever(
        0.05,
        low=0,
        high=1,
        unit="share of loans",
        group="funding",
        label="Investors' overdue norm",
        description="Overdue rate (1+ DPD, share of the lender's loans) investors take as "
        "normal (DOMAIN.md: low single digits; the source platforms report 3.2-5.2%); only "
        "the excess over it costs confidence.",
    )
    investor_contagion: float = lever(
        0.0,
        low=0,
        high=10,
        unit="confidence per failed share",
        group="funding",
        label="Investors' contagion",
        description="Confidence investors lose for each share of the other lenders that "
        "have failed (a peer's failure as a common signal).",
    )
    investor_speed: float = lever(
        0.25,
        low=0,
        high=1,
        unit="share a month",
        group="funding",
        label="Investors' speed",
        description="Share of the gap to their target that investors close each month.",
    )
    run_spread: float = lever(
        0.3,
        low=0,
        high=5,
        unit="annual rate",
        group="funding",
        label="Run funding spread",
        description="Annual cost of the book a lender must still fund after its investors "
        "leave (emergency funding), over the funding line.",
    )
    collect_after_failure: bool = lever(
        True,
        group="contagion",
        label="Collection after failure",
        description="Whether a failed lender's book is still collected (an administrator runs "
        "it off, as with a failed bank); if not, collection and relief stop (as when China's "
        "P2P platforms collapsed) and borrowers may default strategically.",
    )
    strategic_default: float = lever(
        0.0,
        low=0,
        high=1,
        unit="share of borrowers",
        group="contagion",
        label="Strategic default share",
        description="Share of a failed lender's borrowers who, learning that repayment is "
        "no longer enforced, stop paying every lender (only when collect_after_failure is "
        "off).",
    )

    OWNER: ClassVar[str] = "market"

    @classmethod
    def of(cls, value: Any) -> MarketRules:
        """A MarketRules from None (the defaults), a dict of overrides or a MarketRules.

        Raises:
            TypeError: For anything else.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            cls.check_known(value)
            return cls(**value)
        raise TypeError(f"market must be MarketRules or a dict, got {type(value).__name__}")


def utilities(
    rates: np.ndarray,
    brand: np.ndarray,
    rejected: np.ndarray,
    usual: np.ndarray,
    rules: MarketRules,
) -> np.ndarray:
    """Each applicant's utility of each lender, shape (lenders, applicants).

    Args:
        rates: Each lender's posted annual rate (its best tier's), shape (lenders,).
        brand: Each lender's brand term, shape (lenders,).
        rejected: Whether the lender refused the applicant recently, (lenders, applicants).
        usual: Whether the lender made the applicant's last loan, (lenders, applicants).
        rules: The market's choice levers.
    """
    base = posted_utility(rates, brand, rules)
    return base[:, None] - rules.rejection_penalty * rejected + rules.switching_cost * usual


def posted_utility(rates: np.ndarray, brand: np.ndarray, rules: MarketRules) -> np.ndarray:
    """Each lender's utility before what a borrower remembers: brand less price.

    Args:
        rates: Each lender's posted annual rate, shape (lenders,).
        brand: Each lender's brand term, shape (lenders,).
        rules: The market's choice levers (``price_sensitivity``).
    """
    return brand - rules.price_sensitivity * rates


def gumbel(uniform: np.ndarray) -> np.ndarray:
    """Gumbel taste draws from U(0,1) draws.

    Args:
        uniform: U(0,1) draws, any shape (clipped to [1e-300, 1 - 1e-16]).

    Returns:
        ``-log(-log(u))`` of each draw, the same shape.
    """
    return -np.log(-np.log(np.clip(uniform, 1e-300, 1.0 - 1e-16)))


def choose_lenders(utility: np.ndarray, free: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """The lender each applicant applies to: the free lender of highest utility + taste.

    Args:
        utility: Utility of each lender to each applicant, shape (lenders, applicants).
        free: Whether the applicant holds no loan at the lender, same shape.
        uniform: U(0,1) per lender and applicant: Gumbel taste draws (:func:`gumbel`).

    Returns:
        The chosen lender per applicant (-1 where every lender holds a loan of theirs).
    """
    score = np.where(free, utility + gumbel(uniform), -np.inf)
    choice = np.argmax(score, axis=0)
    return np.where(free.any(axis=0), choice, -1)


def choose_applied_lenders(
    idx: np.ndarray,
    month: int,
    memory: MarketMemory,
    rules: MarketRules,
    rates: np.ndarray,
    brand: np.ndarray,
    held: np.ndarray,
    lends: np.ndarray,
    uniform: np.ndarray,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`choose_lenders` over :func:`utilities` for borrowers ``idx``, in one pass.

    What the borrowers remember (a refusal within ``rules.rejection_memory`` months, the
    lender of their last loan) is read from ``memory``; the result is the same, bit for
    bit (tested), without the (lenders, applicants) arrays.

    Args:
        idx: The applicants (borrower indices).
        month: This month's number.
        memory: What borrowers remember of the lenders.
        rules: The market's choice levers.
        rates: Each lender's posted annual rate (its best tier's), shape (lenders,).
        brand: Each lender's brand term, shape (lenders,).
        held: Whether each borrower holds a loan at each lender, (lenders, borrowers).
        lends: Whether each lender takes applications, shape (lenders,).
        uniform: U(0,1) per lender and applicant, shape (lenders, applicants).
        exclude: A lender per applicant left out (e.g. the one that just refused them;
            -1: none), or None.

    Returns:
        The chosen lender per applicant (-1 where none is free).

    Raises:
        ValueError: If an applicant is not a borrower of ``held``, or ``uniform`` or
            ``exclude`` does not match the applicants.
    """
    idx = np.asarray(idx, np.int64)
    n_lenders, n_borrowers = held.shape
    if idx.size and (idx.min() < 0 or idx.max() >= n_borrowers):
        raise ValueError(f"idx: borrower indices in [0, {n_borrowers})")
    if np.shape(uniform) != (n_lenders, idx.size):
        raise ValueError(f"uniform: shape {np.shape(uniform)}, expected {(n_lenders, idx.size)}")
    exclude = np.full(idx.size, -1, np.int64) if exclude is None else exclude
    if np.shape(exclude) != idx.shape:
        raise ValueError(f"exclude: one lender per applicant ({idx.size})")
    base = posted_utility(rates, brand, rules)
    out = np.empty(idx.size, np.int64)
    _choose(idx, base, float(rules.rejection_penalty),
            float(rules.switching_cost), memory.refused, memory.last_lender, int(month),
            int(rules.rejection_memory), held, np.asarray(lends, np.bool_),
            np.asarray(exclude, np.int64), gumbel(uniform), out)  # fmt: skip
    return out


@njit(cache=True, nogil=True)
def _choose(idx, base, penalty, switching, refused, last_lender, month, remembered, held,
            lends, exclude, taste, out):  # fmt: skip
    """Each applicant's free lender of highest utility + taste (the first of equals)."""
    for k in range(idx.size):
        i = idx[k]
        best, choice = -np.inf, -1
        for j in range(base.size):
            if held[j, i] or not lends[j] or exclude[k] == j:
                continue
            utility = base[j] - penalty * (month - refused[j, i] <= remembered)
            score = (utility + switching * (last_lender[i] == j)) + taste[j, k]
            if choice < 0 or score > best:
                best, choice = score, j
        out[k] = choice


def investor_confidence(
    confidence: float,
    annual_loss_rate: float,
    overdue_rate: float,
    failed_peer_share: float,
    rules: MarketRules,
) -> float:
    """Next month's confidence (0-1) of an investor-funded lender's investors.

    The target is ``1 - annual_loss_rate / investor_loss_tolerance -
    investor_overdue_sensitivity * max(overdue_rate - investor_overdue_norm, 0) -
    investor_contagion * failed_peer_share`` (clipped to 0-1): the lender's own losses
    and overdue, and its peers' failures; confidence closes ``investor_speed`` of the
    gap each month.
    """
    target = 1.0 - annual_loss_rate / rules.investor_loss_tolerance
    excess = max(overdue_rate - rules.investor_overdue_norm, 0.0)
    target -= rules.investor_overdue_sensitivity * excess
    target -= rules.investor_contagion * failed_peer_share
    target = min(max(target, 0.0), 1.0)
    return confidence + rules.investor_speed * (target - confidence)


class MarketMemory:
    """What borrowers remember of the lenders: recent refusals and the last lender.

    Args:
        n_lenders: Number of lenders.
        n_borrowers: Number of borrowers.
    """

    #: ``refused`` of a lender that never refused the borrower.
    NEVER = np.iinfo(np.int32).min // 2

    def __init__(self, n_lenders: int, n_borrowers: int) -> None:
        self.refused = np.full((n_lenders, n_borrowers), self.NEVER, np.int32)
        self.last_lender = np.full(n_borrowers, -1, np.int16)

    def record(
        self, lender: int | np.ndarray, idx: np.ndarray, approved: np.ndarray, month: int
    ) -> None:
        """Remember the lenders' answers to borrowers ``idx`` in ``month``.

        ``lender`` is the lender applied to: one for all, or one per borrower.
        """
        if np.ndim(lender) == 0:
            self.refused[lender, idx[~approved]] = month
            self.last_lender[idx[approved]] = lender
        else:
            lender = np.asarray(lender, np.int64)  # (a narrower type would overflow below)
            cell = lender[~approved] * self.refused.shape[1] + idx[~approved]
            self.refused.ravel()[cell] = month  # [lender, idx], as one scatter
            self.last_lender[idx[approved]] = lender[approved]
