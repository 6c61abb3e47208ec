"""US credit-card delinquency and charge-off rates, 2007-2012: the replay's reference points.

Quarterly rates of all US commercial banks (Federal Reserve, "Charge-Off and
Delinquency Rates on Loans and Leases at Commercial Banks", seasonally adjusted; FRED
series DRCCLACBS and CORCCACBS). Only the quarters whose value a public source states
are listed, as first published (later revisions move them by a few hundredths); each
point names its source. Delinquency is the share of balances 30+ days past due at the
quarter's end; the charge-off rate is annualised, net of recoveries.

Quarter numbers count from 2007 Q1 = 0, so quarter ``q`` covers months ``3q .. 3q + 2``
of the ``us_2007`` scenario preset (month 0 = January 2007).
"""

from __future__ import annotations

from typing import NamedTuple


class Point(NamedTuple):
    """One published quarterly rate."""

    quarter: int
    rate: float
    source: str


_MPR_2008 = "Federal Reserve, Monetary Policy Report, February 2008, figure 13 table"
_CC_2008Q3 = "creditcards.com, 'Credit card delinquency rates dip in Q3', Fed data, Nov 2008"
_BULLETIN_2009 = "Federal Reserve Bulletin 2009, 'Profits and balance sheet developments', fig. 35"
_CC_2009Q2 = "creditcards.com, 'Credit card charge-offs, delinquencies hit all-time high', Aug 2009"
_INSIDEARM_2010 = "insideARM, 'Credit card charge-off rates hit record high', Fed data, Aug 2010"
_BLOG_2011 = "Fed release for 2011 Q2, as quoted by Carpe Diem, Aug 2011"
_PAYMENTS_2012 = "PaymentsSource, 'New lows for charge-offs...', Fed data, Nov 2012"
_STATISTA = "Federal Reserve via Statista, charge-off rates of credit card loans (NSA)"

#: Credit-card delinquency rate (30+ DPD, share of balances), by quarter.
DELINQUENCY = (
    Point(0, 0.0406, _MPR_2008),
    Point(1, 0.0403, _MPR_2008),
    Point(2, 0.0434, _MPR_2008),
    Point(3, 0.0455, _MPR_2008),
    Point(5, 0.0488, _CC_2008Q3),
    Point(6, 0.0479, _CC_2008Q3),
    Point(7, 0.055, _BULLETIN_2009),
    Point(8, 0.0668, _CC_2009Q2),
    Point(9, 0.0670, _CC_2009Q2),
    Point(12, 0.0570, _INSIDEARM_2010),
    Point(13, 0.0501, _INSIDEARM_2010),
    Point(17, 0.0362, _BLOG_2011),
    Point(21, 0.0290, _PAYMENTS_2012),
    Point(22, 0.0283, _PAYMENTS_2012),
)
#: Credit-card charge-off rate (annualised, net of recoveries), by quarter.
CHARGE_OFFS = (
    Point(0, 0.0393, _STATISTA),
    Point(3, 0.042, _BULLETIN_2009),
    Point(5, 0.0547, _CC_2008Q3),
    Point(6, 0.0562, _CC_2008Q3),
    Point(7, 0.060, _BULLETIN_2009),
    Point(8, 0.0764, _CC_2009Q2),
    Point(9, 0.0955, _CC_2009Q2),
    Point(10, 0.1020, _INSIDEARM_2010),
    Point(12, 0.1007, _INSIDEARM_2010),
    Point(13, 0.1066, _INSIDEARM_2010),
    Point(21, 0.0418, _PAYMENTS_2012),
    Point(22, 0.0392, _PAYMENTS_2012),
)
#: The unemployment rate peaked in October 2009 (quarter 11, 2009 Q4) at 10.1% (BLS).
UNEMPLOYMENT_PEAK_QUARTER = 11


def peak(points: tuple[Point, ...]) -> Point:
    """The highest published point."""
    return max(points, key=lambda p: p.rate)
