"""Why a validated fact misses: the likely reason, as diagnosed, for the validation report.

A diagnosis explains a miss; it never changes the fact's criterion or set-up. Each names
the date it was made and the measurements behind it (commands in the repository), so a
reader can tell when it may have gone stale. The report shows a diagnosis only next to a
fact that misses; a miss without one is reported as not yet diagnosed.
"""

from __future__ import annotations

#: When the diagnoses below were made (re-check them when the model changes).
DIAGNOSED_ON = "2026-12-03"

#: Fact key -> the likely reason it misses.
MISS_DIAGNOSES: dict[str, str] = {
    "2b": (
        "The multiple is of a low baseline: the baseline annual net loss misses its own "
        "calibration target (C2, below 2%), while delinquency's multiple is in the band. The "
        "baseline's roll rates (`CreditEconomy.roll_rate_table`, 20,000 borrowers x 36 "
        "months) show many late cures: each month 21-25% of 31-60 DPD and 13-14% of 61-90 "
        "DPD balances return to current, nearly all by catch-up payments (relief re-ages "
        "about 4% a month), so few delinquent loans reach write-off in normal "
        "times, and a recession, which stops the cures, multiplies charge-offs more than "
        "delinquency. DOMAIN.md gives no roll-rate magnitudes to check the cures against."
    ),
    "2f": (
        "Delinquency follows the stock of recently unemployed borrowers, not the job-loss "
        "flow. In the replay (`experiments.facts.replay`, 20,000 borrowers x 8 replications, "
        "3-month means) job losses peak in months 22-28, but new delinquency, the 31+ DPD "
        "stock and unemployment all peak in months 33-34 and charge-offs in month 35: an "
        "unemployed borrower falls behind a median five months into the spell, when "
        "savings and benefit run out, and the number of borrowers that far into a spell "
        "grows until unemployment peaks. Write-off then follows mechanically (86% of "
        "write-offs exactly five months after entering 31+ DPD), so both quarterly peaks "
        "land in 2009 Q4. A lead of delinquency over unemployment, as in the Fed series, "
        "needs delinquency that answers the job-loss flow rather than the stock of the "
        "unemployed; none of the levers tried below does that. Part of "
        "the Fed's four quarters is a break in its series: from 2010 Q1 it takes in "
        "securitised card loans brought onto bank balance sheets by FAS 166/167 (Federal "
        "Reserve data note on the Call Report of March 31, 2010); before it, the Fed's "
        "charge-off rate reached 10.2% in 2009 Q3, one quarter after delinquency peaked."
        " Tested on the same replay without changing the fact (3-month means, quarterly "
        "peaks): with relief off, with job-finding elasticities 0.7-1.2, savings buffers "
        "of 0.5-2 months, benefits for 6-23 months, unemployed borrowers keeping 1-3 "
        "months of essentials before paying debt, or the lender's dynamic tightening on "
        "(targets 2.5% and 3%), or without the business-cycle income loss, delinquency "
        "peaks in 2009 Q3 or Q4 and charge-offs in "
        "2009 Q4: the lag stays at 0-1 quarters, so it is set by the unemployment path, "
        "not by these levers."
    ),
    "7": (
        "Few borrowers short of their dues get a loan to repay with: they have little slack "
        "and fall below the score cut-off, so fewer than one such application in a hundred "
        "is approved (docs/model.md section 10). Borrowing to repay then hides little "
        "(first-year overdue 0.03-0.04 pp lower) and amplifies nothing measurable over 60 "
        "months. The score sees current income, savings and employment through true "
        "quality, more than an online lender would; with staler information the mechanism "
        "would be stronger."
    ),
    "8": (
        "The common income factor is drawn afresh each month and the income shock is "
        "transitory, so a bad month for everyone is followed by an independent one, savings "
        "absorb it, and it averages out over a year; on the flat baseline path nothing "
        "else moves all borrowers together. `income_common_share` sets the month's "
        "correlation, not a persistent one; the Vasicek check (fact V) shows the machinery "
        "reproduces a given correlation when configured as a one-factor model."
    ),
}


def diagnosis(key: str) -> str:
    """The likely reason fact ``key`` misses, or a statement that it is not diagnosed."""
    return MISS_DIAGNOSES.get(key, "Not yet diagnosed.")
