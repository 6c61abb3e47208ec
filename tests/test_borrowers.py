"""Unit tests of the borrower rules and the lender's screening, one rule at a time."""

import numpy as np
import pytest

from model import CreditEconomy, PopulationParams, RiskPolicy
from model import borrowers as rules
from model.macro import MacroScenario, MacroState
from model.origination import DAMAGED_RECORD_PENALTY
from model.population import BorrowerState, init_population

CALM = MacroState(
    unemployment=0.042, wage_index=1.0, price_index=1.0, policy_rate=0.03, illness_factor=1.0
)


def _state(n=20_000, seed=0, **params):
    p = PopulationParams().replace(**params)
    return p, init_population(p, n, 0.042, np.random.default_rng(seed))


def test_population_is_heterogeneous_by_segment():
    p, s = _state()
    shares = np.bincount(s.segment, minlength=3) / len(s)
    np.testing.assert_allclose(shares, p.segment_shares, atol=0.02)
    for seg, median in enumerate(p.median_income):
        assert np.median(s.base_income[s.segment == seg]) == pytest.approx(median, rel=0.05)
    assert s.overspender[s.segment == 2].mean() > s.overspender[s.segment == 0].mean()
    assert 0.2 < (s.misreport > 1).mean() < 0.3


def test_job_losses_hit_young_and_self_employed_harder():
    p, s = _state(n=200_000)
    lost = np.zeros(3)
    for _ in range(6):
        before = s.employed.copy()
        rules.labour_market(s, 0.10, 0.042, p, np.random.default_rng(len(lost)).random(len(s)))
        newly = before & ~s.employed
        lost += np.bincount(s.segment[newly], minlength=3) / np.bincount(s.segment, minlength=3)
    assert lost[2] > lost[1] > lost[0]


def test_illness_starts_at_the_scaled_rate_and_lasts_geometric_months():
    p, s = _state(n=200_000, illness_rate=0.01, illness_months=3.0)
    rng = np.random.default_rng(1)
    duration = rng.random(len(s))
    onset = rules.illness(s, p, 2.0, rng.random(len(s)), lambda idx: duration[idx])
    assert onset.mean() == pytest.approx(0.02, rel=0.05)
    assert s.ill_months[onset].mean() == pytest.approx(3.0, rel=0.05)


def test_unemployed_get_benefit_then_assistance_and_illness_cuts_income():
    p, s = _state(n=10, income_shock_sd=(0.0, 0.0, 0.0), business_cycle_beta=(0, 0, 0))
    s.employed[:] = [True] * 5 + [False] * 5
    s.months_unemployed[:] = [0] * 5 + [1, 1, 7, 7, 7]
    s.ill_months[:] = [0, 2, 0, 0, 0, 0, 0, 0, 0, 0]
    rules.income(s, p, CALM, 0.0, 0.0, 0.0, np.zeros(10))
    base = s.base_income
    assert s.income[0] == pytest.approx(base[0])
    assert s.income[1] == pytest.approx(base[1] * (1 - p.illness_income_loss))
    assert s.income[5] == pytest.approx(base[5] * p.replacement_ratio)
    assert s.income[7] == pytest.approx(base[7] * p.assistance_ratio)


def test_common_factor_correlates_incomes():
    p, s = _state(n=50_000, income_common_share=0.8)
    rules.income(s, p, CALM, 0.0, 0.0, -2.0, np.random.default_rng(2).standard_normal(len(s)))
    ratio = s.income[s.employed] / s.base_income[s.employed]
    assert np.median(ratio) < 0.97  # a bad common draw lowers most incomes


def test_habit_adjusts_slowly_so_an_income_fall_bites():
    p, s = _state(n=100)
    habit0 = s.habit.copy()
    s.smoothed_income *= 0.5
    rules.settle_spending(s, p, np.full(100, 1e6), 0.0)
    assert np.all(s.habit < habit0) and np.all(s.habit > 0.5 * habit0)
    assert np.all(s.savings >= 0)


def test_essentials_scale_with_prices_and_illness_costs_cash():
    p, s = _state(n=100)
    ill = np.zeros(100, bool)
    ill[0] = True
    cash1, _ = rules.spending_needs(s, p, CALM, ill)
    cash2, _ = rules.spending_needs(s, p, CALM._replace(price_index=1.2), np.zeros(100, bool))
    np.testing.assert_allclose(cash1[1:] - cash2[1:], 0.2 * s.essentials[1:])
    assert cash1[0] < cash2[0] + 0.2 * s.essentials[0]


def test_damaged_record_lowers_the_score():
    eco = CreditEconomy(100, seed=1, burn_in=0)
    lender = eco.lenders[0]
    clean = lender.score(np.zeros(3), np.zeros(3), np.zeros(3, bool), eco.params)
    bad = lender.score(np.zeros(3), np.zeros(3), np.ones(3, bool), eco.params)
    np.testing.assert_allclose(clean - bad, DAMAGED_RECORD_PENALTY)


def test_funding_limit_caps_the_book():
    tight = RiskPolicy.preset("aggressive", funding_limit_per_borrower=500.0)
    eco = CreditEconomy(3000, "baseline", tight, seed=1, burn_in=24)
    df = eco.run(12)
    assert (df["balance"] <= 500.0 * 3000 * 1.05).all()  # interest may accrue above the line
    loose = CreditEconomy(3000, "baseline", "aggressive", seed=1, burn_in=24).run(12)
    assert loose["balance"].mean() > 2 * df["balance"].mean()


def test_misreported_income_raises_losses():
    honest = CreditEconomy(20000, "baseline", seed=1, population={"misreport_share": 0.0}).run(36)
    liars = CreditEconomy(20000, "baseline", seed=1, population={"misreport_share": 0.8}).run(36)
    rate = lambda df: df["net_loss"].sum() / df["originations"].sum()  # noqa: E731
    assert rate(liars) > rate(honest)


def test_distress_raises_demand_for_credit():
    calm = CreditEconomy(
        5000, "baseline", seed=1, burn_in=24, population={"distress_apply_multiplier": 1.0}
    ).run(12)
    eager = CreditEconomy(
        5000, "baseline", seed=1, burn_in=24, population={"distress_apply_multiplier": 6.0}
    ).run(12)
    assert eager["applications"].sum() > calm["applications"].sum()


def test_recoveries_follow_writeoffs():
    eco = CreditEconomy(5000, "severe_recession", seed=1, burn_in=24)
    df = eco.run(36)
    assert df["recoveries"].sum() > 0
    assert df["recoveries"].sum() < df["writeoffs"].sum()


# ------------------------------------------------- rules on hand-made borrowers
def _hand_state(n, **fields):
    """A borrower state of ``n`` plain borrowers (salaried, employed, healthy), ``fields`` set."""
    ones, zeros = np.ones(n), np.zeros(n)
    arrays = dict(
        segment=np.zeros(n, np.int8),
        base_income=np.full(n, 1000.0),
        employed=np.ones(n, bool),
        months_unemployed=np.zeros(n, np.int16),
        ill_months=np.zeros(n, np.int16),
        income=np.full(n, 1000.0),
        smoothed_income=np.full(n, 1000.0),
        essentials=np.full(n, 400.0),
        habit=np.full(n, 300.0),
        disc_share=np.full(n, 0.3),
        savings=zeros.copy(),
        buffer_target=np.full(n, 2.0),
        overspender=np.zeros(n, bool),
        literacy=np.full(n, 0.5, np.float32),
        willingness=ones.copy(),
        misreport=ones.copy(),
        record_damaged_until=np.full(n, np.iinfo(np.int32).min, np.int32),
        distressed=np.zeros(n, bool),
        missed=np.zeros(n, bool),
        shock_sd=zeros.copy(),
        cycle_beta=zeros.copy(),
        protect_share=np.full(n, 0.5),
        apply_base=np.full(n, 0.1),
        shock_half_var=zeros.copy(),
    )
    for name, value in fields.items():
        arrays[name] = np.array(np.broadcast_to(value, (n,)), dtype=arrays[name].dtype)
    return BorrowerState(**arrays)


def _expected_unemployment(table, working, jobless):
    find, loss = table[:3], table[3:]
    return (jobless @ (1 - find) + working @ loss) / (working.sum() + jobless.sum())


@pytest.mark.parametrize(
    ("working", "jobless", "target"),
    [
        ([600, 250, 150], [20, 15, 15], 0.06),  # unemployment rising
        ([570, 230, 130], [50, 35, 35], 0.12),  # rising further
        ([500, 200, 100], [100, 60, 40], 0.08),  # falling fast: the job-loss floor binds
        ([560, 240, 140], [40, 10, 10], 0.0625),  # staying
    ],
)
def test_labour_hazards_make_expected_unemployment_hit_the_target(working, jobless, target):
    p = PopulationParams()
    working, jobless = np.array(working, float), np.array(jobless, float)
    table = rules.labour_hazards(working, jobless, target, 0.042, p)
    assert np.all((table >= 0) & (table <= 1))
    assert _expected_unemployment(table, working, jobless) == pytest.approx(target, rel=1e-9)


def test_labour_hazards_spread_over_segments_by_their_relative_rates():
    p = PopulationParams(job_loss_relative=(1.0, 2.0, 4.0), job_finding_relative=(1.0, 0.5, 1.0))
    table = rules.labour_hazards(
        np.array([500.0, 300, 100]), np.array([40.0, 40, 20]), 0.1, 0.042, p
    )
    find, loss = table[:3], table[3:]
    np.testing.assert_allclose(loss / loss[0], [1.0, 2.0, 4.0])
    np.testing.assert_allclose(find / find[0], [1.0, 0.5, 1.0])


def test_the_job_finding_rate_falls_as_unemployment_rises_above_its_start():
    p = PopulationParams(job_finding_rate=0.25, job_finding_elasticity=0.7)
    working, jobless = np.array([900.0, 0, 0]), np.array([100.0, 0, 0])
    table = rules.labour_hazards(working, jobless, 0.1, 0.05, p)
    assert table[0] == pytest.approx(0.25 * 0.5**0.7)


def test_the_job_loss_floor_holds_when_unemployment_falls_fast():
    p = PopulationParams(min_job_loss_share=0.2, job_finding_rate=0.25)
    working, jobless = np.array([800.0, 0, 0]), np.array([200.0, 0, 0])
    table = rules.labour_hazards(working, jobless, 0.05, 0.05, p)
    assert table[3] == pytest.approx(0.2 * 0.25 * 0.05)


def test_income_of_the_employed_follows_the_wage_index_the_cycle_and_the_shock():
    p = PopulationParams(income_common_share=0.25, income_smoothing=0.3)
    sd = 0.2
    s = _hand_state(4, shock_sd=sd, shock_half_var=0.5 * sd**2, cycle_beta=[0.0, 2.0, 30.0, 0.0])
    macro = CALM._replace(wage_index=1.1)
    e = np.array([0.0, 0.0, 0.0, 1.0])
    rules.income(s, p, macro, 0.05, 0.02, -1.0, e)  # 5 points of cycle gap, 2% hours cut
    shock = np.exp(sd * (np.sqrt(0.75) * e + np.sqrt(0.25) * -1.0) - 0.5 * sd**2)
    cycle = np.array([0.98, 1.0 - 2.0 * 0.05 - 0.02, 0.05, 0.98])  # 1 - 30 x 0.05: the floor
    expected = 1000.0 * 1.1 * shock * cycle
    np.testing.assert_allclose(s.income, expected)
    # smoothed income moves a share income_smoothing of the way to this month's
    np.testing.assert_allclose(s.smoothed_income, 0.7 * 1000.0 + 0.3 * expected)


def test_income_of_the_unemployed_is_benefit_up_to_benefit_months_then_assistance():
    p = PopulationParams(
        benefit_months=6, replacement_ratio=0.5, assistance_ratio=0.2, illness_income_loss=0.4
    )
    s = _hand_state(
        4,
        employed=False,
        months_unemployed=[1, 6, 7, 7],
        ill_months=[0, 0, 0, 2],
        shock_sd=0.5,
        cycle_beta=5.0,
    )
    rules.income(s, p, CALM._replace(wage_index=1.2), 0.158, 0.03, 2.0, np.ones(4))
    np.testing.assert_allclose(s.income, 1200.0 * np.array([0.5, 0.5, 0.2, 0.2 * 0.6]))


def test_hours_are_cut_by_the_rise_of_unemployment_over_the_window_not_its_level():
    path = MacroScenario.from_knots(
        "rise_and_plateau", 24, unemployment=[(0, 0.04), (10, 0.09), (24, 0.09)]
    )
    p = PopulationParams(hours_cut=1.5, hours_window=6)
    u = path.unemployment
    assert rules.hours_cut(path, 8, p) == pytest.approx(1.5 * (u[8] - u[2]))
    assert rules.hours_cut(path, 3, p) == pytest.approx(1.5 * (u[3] - u[0]))  # from month 0
    assert rules.hours_cut(path, 16, p) == 0.0  # high but no longer rising: hours recover
    assert rules.hours_cut(path, 30, p) == 0.0  # past the end: the last month repeats
    assert rules.hours_cut(path, -1, p) == 0.0  # the burn-in sees no rise
    falling = MacroScenario.from_knots("fall", 12, unemployment=[(0, 0.09), (11, 0.05)])
    assert rules.hours_cut(falling, 8, p) == 0.0  # never a pay rise
    assert rules.hours_cut(path, 8, PopulationParams(hours_cut=0.0)) == 0.0


def test_precautionary_saving_lowers_the_habit_target_by_the_unemployment_gap():
    p = PopulationParams(precautionary_saving=2.0, habit_adjustment=1.0)
    s = _hand_state(3, disc_share=[0.3, 0.3, 0.05])
    s.smoothed_income[:] = 1000.0
    rules.settle_spending(s, p, np.zeros(3), 0.0)
    np.testing.assert_allclose(s.habit, [300.0, 300.0, 50.0])
    rules.settle_spending(s, p, np.zeros(3), 0.05)  # target share 0.3 - 2 x 0.05 = 0.2
    np.testing.assert_allclose(s.habit, [200.0, 200.0, 0.0])  # never below 0
    q = PopulationParams(precautionary_saving=0.0, habit_adjustment=1.0)
    rules.settle_spending(s, q, np.zeros(3), 0.05)
    np.testing.assert_allclose(s.habit, [300.0, 300.0, 50.0])


def test_the_hours_cut_alone_lowers_the_income_of_the_employed_not_benefits():
    p = PopulationParams()
    s = _hand_state(3, employed=[True, True, False], cycle_beta=[0.0, 2.0, 0.0])
    rules.income(s, p, CALM, 0.0, 0.03, 0.0, np.zeros(3))  # no gap, a 3% hours cut
    np.testing.assert_allclose(s.income, [970.0, 970.0, 1000.0 * p.replacement_ratio])


def test_illness_cuts_the_income_of_the_employed():
    p = PopulationParams(illness_income_loss=0.4)
    s = _hand_state(2, ill_months=[0, 1])
    rules.income(s, p, CALM, 0.0, 0.0, 0.0, np.zeros(2))
    np.testing.assert_allclose(s.income, [1000.0, 600.0])


def test_applicants_apply_at_their_base_rate_more_in_distress_and_after_repaying():
    p = PopulationParams(distress_apply_multiplier=3.0, reborrow_probability=0.5)
    s = _hand_state(6, apply_base=0.125, distressed=[False, False, True, True, True, False])
    repaid = np.array([False, False, False, False, True, True])
    uniform = np.array([0.12, 0.125, 0.37, 0.375, 0.49, 0.5])
    # below 0.125, at it, below 3 x 0.125, at it, below 0.5 (repaid beats distress), at 0.5
    assert rules.applicants(s, p, repaid, uniform).tolist() == [0, 2, 4]


def test_relief_is_asked_in_temporary_trouble_with_literacy_or_when_reached():
    p = PopulationParams(relief_ask_base=0.2, relief_ask_literacy=0.5)
    s = _hand_state(
        6,
        employed=[True, True, False, False, True, True],
        months_unemployed=[0, 0, 12, 13, 0, 0],
        ill_months=[0, 1, 0, 0, 0, 0],
        income=[1000.0, 1000.0, 1000.0, 800.0, 799.0, 800.0],
        smoothed_income=1000.0,
        literacy=0.5,
    )
    idx = np.arange(6)
    # Trouble: ill, job lost within 12 months, income under 80%; nothing for 0, 3, 5.
    asked = rules.asks_for_relief(s, p, idx, reach=0.0, uniform=np.full(6, 0.44))
    assert asked.tolist() == [False, True, True, False, True, False]
    assert not rules.asks_for_relief(s, p, idx, 0.0, np.full(6, 0.45)).any()  # 0.2 + 0.5 x 0.5
    reached = rules.asks_for_relief(s, p, idx, reach=0.3, uniform=np.full(6, 0.74))
    assert reached.tolist() == [False, True, True, False, True, False]


def test_spending_needs_keep_essentials_medical_costs_and_the_protected_habit():
    p = PopulationParams(illness_cost=0.5)
    s = _hand_state(2, savings=[200.0, 200.0], overspender=[False, True], protect_share=[0.5, 1.0])
    cash, protected = rules.spending_needs(
        s, p, CALM._replace(price_index=1.25, wage_index=1.2), np.array([False, True])
    )
    np.testing.assert_allclose(cash, [200 + 1000 - 500.0, 200 + 1000 - 500.0 - 0.5 * 1.2 * 1000])
    np.testing.assert_allclose(protected, [150.0, 300.0])


def test_settle_spending_spends_the_habit_saves_the_rest_and_spends_down_the_excess():
    p = PopulationParams(savings_spend_down=0.2, habit_adjustment=0.1)
    s = _hand_state(3, smoothed_income=[1000.0, 1000.0, 2000.0], habit=300.0)
    rules.settle_spending(s, p, np.array([200.0, 1300.0, 5000.0]), 0.0)
    # Savings above the buffer target (2 months of smoothed income) fall by 20%.
    np.testing.assert_allclose(s.savings, [0.0, 1000.0, 4700.0 - 0.2 * 700.0])
    np.testing.assert_allclose(s.habit, 300.0 + 0.1 * (0.3 * np.array([1000, 1000, 2000]) - 300))


def test_true_quality_is_the_documented_weighted_sum():
    """``quality_weights`` weigh slack after essentials, protected spending and debt
    service (capped at +-1 of income), savings (capped at MAX_BUFFER_MONTHS), willingness,
    employment, over-spending, income risk, literacy and illness."""
    p, s = _state(2000, seed=3)
    rng = np.random.default_rng(4)
    s.ill_months[:200] = 2
    s.employed[200:700] = False
    idx = np.sort(rng.choice(2000, 900, replace=False))
    debt = rng.uniform(0, 800, idx.size)
    price = 1.07
    w = p.quality_weights
    income = np.maximum(s.smoothed_income[idx], 1.0)
    slack = income - s.essentials[idx] * price - s.habit[idx] * s.protect_share[idx] - debt
    expected = (
        w[0] * np.clip(slack / income, -1, 1)
        + w[1] * np.minimum(s.savings[idx] / income, rules.MAX_BUFFER_MONTHS)
        + w[2] * (s.willingness[idx] - 1)
        + w[3] * s.employed[idx]
        - w[4] * s.overspender[idx]
        - w[5] * s.shock_sd[idx]
        + w[6] * s.literacy[idx]
        - w[7] * (s.ill_months[idx] > 0)
    )
    got = rules.true_quality(s, p, idx, debt, price)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert np.ptp(np.clip(slack / income, -1, 1)) > 1  # slack spans the cap's range


def test_a_borrower_who_pays_less_than_due_missed_and_is_distressed():
    _, s = _state(4)
    paid, due = np.array([100.0, 99.0, 100.0, 0.0]), np.array([100.0, 100.0, 100.0, 0.0])
    remaining, protected = np.array([50.0, 50.0, 10.0, 0.0]), np.array([20.0, 20.0, 20.0, 0.0])
    rules.mark_distress(s, paid, due, remaining, protected)
    assert s.missed.tolist() == [False, True, False, False]
    # missed, or left with less than the protected spending
    assert s.distressed.tolist() == [False, True, True, False]


def test_labour_illness_and_applications_draw_cell_i_of_the_month_from_an_address():
    """A rule given a random-access stream's address (as the economy passes it) compares
    borrower i's draw, cell i of the month, with i's probability: the same outcome as the
    draws as an array, and as the rule written out on them."""
    from model.draws import RandomAccessUniform

    p = PopulationParams(reborrow_probability=0.3)
    stream = RandomAccessUniform(np.random.SeedSequence(4), 5000, first_month=0)
    u, address = stream(3, np.arange(5000)), stream.address(3)

    def outcome(draws):
        _, s = _state(n=5000, seed=3)
        s.ill_months[::3] = 2  # the ill do not draw: their cells are skipped, not shifted
        before = s.employed.copy(), s.ill_months.copy(), s.segment.copy()
        hazards = rules.labour_market(s, 0.2, 0.042, p, draws)
        onset = rules.illness(s, p, 30.0, draws, lambda idx: np.full(idx.size, 0.5))
        apply = rules.applicants(s, p, s.segment == 1, draws)
        return before, s, hazards, onset, apply

    (employed, ill, segment), s, hazards, onset, apply = outcome(address)
    np.testing.assert_array_equal(s.employed != employed, u < hazards[segment + 3 * employed])
    np.testing.assert_array_equal(onset, (ill == 0) & (u < p.illness_rate * 30.0))
    prob = np.where(
        segment == 1,
        p.reborrow_probability,
        np.where(s.distressed, s.apply_base * p.distress_apply_multiplier, s.apply_base),
    )
    np.testing.assert_array_equal(apply, np.flatnonzero(u < prob))
    _, theirs, _, their_onset, their_apply = outcome(u)
    np.testing.assert_array_equal(s.employed, theirs.employed)
    np.testing.assert_array_equal(onset, their_onset)
    np.testing.assert_array_equal(apply, their_apply)
    assert onset.sum() > 0 and apply.size > 0 and (~s.employed).sum() > 0


def test_rules_write_into_given_arrays_the_values_they_would_return():
    """``out`` (and ``overwrite_draws``) only saves allocations: the same numbers."""
    p, s = _state(n=500)
    ill = np.arange(500) % 7 == 0
    cash, protected = rules.spending_needs(s, p, CALM, ill)
    out = np.full(500, np.nan), np.full(500, np.nan)
    got = rules.spending_needs(s, p, CALM, ill, out=out)
    assert got[0] is out[0] and got[1] is out[1]
    assert np.array_equal(out[0], cash) and np.array_equal(out[1], protected)

    draws = np.random.default_rng(3).random(500)
    twin = init_population(p, 500, 0.042, np.random.default_rng(0))
    onset = rules.illness(s, p, 2.0, draws, lambda idx: draws[idx])
    into = np.ones(500, bool)
    assert rules.illness(twin, p, 2.0, draws, lambda idx: draws[idx], out=into) is into
    assert np.array_equal(into, onset) and np.array_equal(twin.ill_months, s.ill_months)

    normals = np.random.default_rng(4).standard_normal(500)
    rules.income(s, p, CALM, 0.01, 0.0, 0.5, normals)
    rules.income(twin, p, CALM, 0.01, 0.0, 0.5, normals.copy(), overwrite_draws=True)
    assert np.array_equal(twin.income, s.income)
    assert np.array_equal(twin.smoothed_income, s.smoothed_income)


# ------------------------------------------- rules' own meaning (mutation audit, 2026-12-04)
def test_the_job_finding_rate_is_capped_at_95_percent():
    """``find = min(job_finding_rate * (u0/u*)^elasticity, 0.95)``: with a fast-falling
    target the raw rate passes 1; the cap holds, and job loss absorbs the rest."""
    p = PopulationParams(job_finding_rate=0.6, job_finding_elasticity=0.7)
    working, jobless = np.array([900.0, 0, 0]), np.array([100.0, 0, 0])
    assert 0.6 * (0.042 / 0.02) ** 0.7 > 1.0
    table = rules.labour_hazards(working, jobless, 0.02, 0.042, p)
    assert table[0] == pytest.approx(0.95)
    assert _expected_unemployment(table, working, jobless) == pytest.approx(0.02)


def test_months_unemployed_count_up_while_jobless_and_reset_with_a_job():
    """``months_unemployed = 0 if employed else months_unemployed + 1`` (7.4)."""
    s = _hand_state(4, employed=[True, True, False, False], months_unemployed=[0, 0, 3, 7])
    # borrower 1 loses a job, borrower 3 finds one (draw 0); the others stay (draw 1)
    rules.labour_market(s, 0.5, 0.042, PopulationParams(), np.array([1.0, 0.0, 1.0, 0.0]))
    assert s.employed.tolist() == [True, False, False, True]
    assert s.months_unemployed.tolist() == [0, 1, 4, 0]


def test_the_medical_cost_is_a_share_of_usual_not_current_income():
    """``cash = savings + income - essentials*price - fell_ill*illness_cost*base_income*
    wage_index``: an ill borrower on benefits pays the cost on their usual income."""
    p = PopulationParams(illness_cost=0.5)
    s = _hand_state(2, employed=False, income=[400.0, 400.0], savings=100.0)
    cash, _ = rules.spending_needs(s, p, CALM._replace(wage_index=1.2), np.array([False, True]))
    np.testing.assert_allclose(cash, [100.0, 100.0 - 0.5 * 1000 * 1.2])
