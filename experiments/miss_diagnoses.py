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
        "The charge-off multiple is of a low baseline: the baseline annual net loss sits at "
        "the lower edge of its calibration band (C2, about 2.0% against a target of 3%), "
        "while delinquency's multiple is in the band. The baseline's roll rates "
        "(`CreditEconomy.roll_rate_table`, 20,000 borrowers x 36 months, seed 1) show many "
        "late cures: each month 27% of 31-60 DPD and 17% of 61-90 DPD balances return to "
        "current (by a catch-up payment or relief), so few delinquent loans reach write-off "
        "in normal times, and a recession, which stops the cures, multiplies charge-offs "
        "more than delinquency. DOMAIN.md gives no roll-rate magnitudes to check the cures "
        "against."
    ),
    "2e": (
        "Delinquency peaks one month after unemployment (3-month means: month 35 against "
        "34), which puts its quarterly peak in the next quarter. Before the recalibration "
        "of 2026-12-03 (which freed `low_willingness`) it peaked in the same month and the "
        "fact passed on its 'no later than'. The cause is that of fact 2f: delinquency "
        "follows the stock of borrowers deep into an unemployment spell, not the flow of "
        "job losses, so it peaks with unemployment at best, and a shift of one month moves "
        "the quarter. Which of the four recalibrated parameters moved the peak (the "
        "population now holds more reluctant payers, 20% paying 41% of the time against "
        "13% paying 60%, and protects less spending) has not been isolated."
    ),
    "2f": (
        "Delinquency follows the stock of recently unemployed borrowers, not the job-loss "
        "flow. In the replay (`experiments.facts.replay`, 20,000 borrowers x 8 replications, "
        "3-month means) job losses peak in months 22-28, but the 31+ DPD stock and "
        "charge-offs peak in month 35 and unemployment in month 34: an "
        "unemployed borrower falls behind a median five months into the spell (measured "
        "before the recalibration), when "
        "savings and benefit run out, and the number of borrowers that far into a spell "
        "grows until unemployment peaks. Write-off then follows mechanically (before the "
        "2026-12-03 recalibration, 86% of write-offs came exactly five months after entering "
        "31+ DPD), so both peak in the same month (35; in quarterly means charge-offs a "
        "quarter before delinquency). A lead of delinquency over "
        "unemployment, as in the Fed series, "
        "needs delinquency that answers the job-loss flow rather than the stock of the "
        "unemployed; none of the levers tried below does that. Part of "
        "the Fed's four quarters is a break in its series: from 2010 Q1 it takes in "
        "securitised card loans brought onto bank balance sheets by FAS 166/167 (Federal "
        "Reserve data note on the Call Report of March 31, 2010); before it, the Fed's "
        "charge-off rate reached 10.2% in 2009 Q3, one quarter after delinquency peaked."
        " Tested on the same replay before the recalibration, without changing the fact "
        "(3-month means, quarterly peaks): with relief off, with job-finding elasticities "
        "0.7-1.2, savings buffers "
        "of 0.5-2 months, benefits for 6-23 months, unemployed borrowers keeping 1-3 "
        "months of essentials before paying debt, or the lender's dynamic tightening on "
        "(targets 2.5% and 3%), or without the business-cycle income loss, delinquency "
        "peaks in 2009 Q3 or Q4 and charge-offs in "
        "2009 Q4: the lag stays at 0-1 quarters, so it is set by the unemployment path, "
        "not by these levers."
    ),
    "7": (
        "Few borrowers short of their dues get a loan to repay with: they have little slack "
        "and fall below the score cut-off, so about three such applications in a hundred "
        "are approved (2.8%: two `balanced` lenders, 20,000 borrowers x 60 months, seed 1, "
        "in the baseline and in the severe recession alike). Borrowing to repay then hides "
        "little (first-year overdue 0.06 pp lower) and amplifies nothing significant over "
        "60 months. The score sees current income, savings and employment through true "
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
