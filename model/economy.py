"""CreditEconomy: the Mesa model that ties borrowers, lenders and the macro path together."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import mesa
import numpy as np
import pandas as pd

from model import borrowers as rules
from model import loans, repayment
from model._checks import check_number
from model.borrowers import Borrower
from model.draws import keyed_streams, named_streams, normal_quantile, standard_normal
from model.lender import RECORD_MONTHS, Lender, close_loans, grant_relief, write_off
from model.loans import DEFAULT_DPD_MONTHS, LoanBook, RedefaultCohorts
from model.macro import MacroScenario
from model.market import MarketMemory, MarketRules, choose_applied_lenders
from model.metrics import EXTRA_COLUMNS, LENDER_COLUMNS, METRIC_COLUMNS, combine
from model.month import Month, MonthScratch
from model.observers import RollRates
from model.origination import (
    Applications,
    lender_bounds,
    observed_score,
    originate_round,
    per_application,
)
from model.policy import RiskPolicy
from model.population import BorrowerState, PopulationParams, init_population
from model.recoveries import Recoveries
from model.tape import LoanTape

#: Largest population accepted at all.
MAX_BORROWERS = 100_000_000
#: Months the burn-in adds to the write-off horizon and the 36-month memories (time for
#: the book to fill and the first loans to fall overdue).
BURN_IN_LEAD = 6


class _Applications(NamedTuple):
    """What a round's applicants bring to a lender (``CreditEconomy._applications``)."""

    debt_service: np.ndarray  # instalments the lender sees
    quality: np.ndarray  # standardised true quality with that debt service
    damaged: np.ndarray  # the credit record shows a default
    wanted: np.ndarray  # the amount asked for
    reported: np.ndarray  # the income reported
    term_draw: np.ndarray  # U(0,1): the term, from the lender's mix


def default_burn_in(policies: Sequence[RiskPolicy]) -> int:
    """Burn-in months long enough for every memory of the model to fill.

    The longest memories are the 36 months a default stays on the credit record and a
    write-off stays in recovery (``recovery_months``); they start to fill only once the
    first loans reach the write-off DPD. So the burn-in is the longer of the two + the
    longest write-off horizon (in months) + ``BURN_IN_LEAD``: 46 months at the presets'
    write-off of 120 DPD (48 at 180 DPD).
    """
    memory = max(RECORD_MONTHS, *(p.recovery_months for p in policies))
    return memory + max(p.writeoff_dpd // 30 for p in policies) + BURN_IN_LEAD


#: The default burn-in of the preset policies (36-month record, 120 DPD write-off, lead).
DEFAULT_BURN_IN = default_burn_in([RiskPolicy()])


#: Rows the loan tape holds before it first grows, per borrower: a burn-in adds about 1-1.2
#: (most closed again and dropped at month 0) and a 60-month run about 1.6-1.9 with the
#: presets, so most runs never copy the tape to grow it (untouched rows cost no memory).
TAPE_ROWS_PER_BORROWER = 2

#: The libraries' file-backed pages a process holds resident (shared code and data: numpy,
#: pandas, numba, Mesa). Measured 136-221 MB: the most when freshly installed (all in the page
#: cache), less once the system has evicted part of them; shared by every process.
LIBRARY_BYTES = 250e6

#: Measured peak memory (24- and 60-month runs; docs/model.md 2.7): the process's own memory
#: for the interpreter, its imports and compiled kernels (a first run compiling them, with
#: numba's cache cold, peaks about 90 MB higher) plus the libraries' pages; then per borrower
#: (state, scratch, tape and recoveries) and per slot.
BASE_BYTES = 135e6 + LIBRARY_BYTES
BYTES_PER_BORROWER, BYTES_PER_LOAN_SLOT = 340, 125


def memory_estimate(n_borrowers: int, n_lenders: int = 1) -> float:
    """Estimated peak resident memory of an economy in a process of its own, in bytes.

    Private memory is within about 10% of measured peaks; the libraries' shared pages are
    counted at their most (``LIBRARY_BYTES``).
    """
    return BASE_BYTES + n_borrowers * (BYTES_PER_BORROWER + BYTES_PER_LOAN_SLOT * n_lenders)


def available_memory() -> float | None:
    """Memory the system can still give this process, in bytes (None if unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(n_borrowers: int, n_lenders: int = 1) -> None:
    """Refuse up front a population that would not fit in the available memory.

    Raises:
        ValueError: Naming ``n_borrowers``, the estimate and what is available.
    """
    need, have = memory_estimate(n_borrowers, n_lenders), available_memory()
    if have is not None and need > have:
        raise ValueError(
            f"n_borrowers={n_borrowers:,} with {n_lenders} lender(s) needs about "
            f"{need / 1e9:.1f} GB of memory; {have / 1e9:.1f} GB is available"
        )


def _resolve_policies(policy: Any) -> list[RiskPolicy]:
    if isinstance(policy, str | RiskPolicy):
        policy = [policy]
    if not isinstance(policy, Sequence) or len(policy) == 0:
        raise TypeError(
            "policy must be a preset name, a RiskPolicy, or a non-empty list of them; "
            f"got {policy!r}"
        )
    out = []
    for item in policy:
        if isinstance(item, str):
            out.append(RiskPolicy.preset(item))
        elif isinstance(item, RiskPolicy):
            out.append(item)
        else:
            raise TypeError(
                f"policy must be a preset name ({', '.join(RiskPolicy.names())}) or a RiskPolicy, "
                f"got {type(item).__name__}"
            )
    return out


@dataclass(frozen=True)
class EconomyInputs:
    """The constructor arguments of an economy, checked and resolved to objects."""

    n_borrowers: int
    burn_in: int
    seeds: np.random.SeedSequence
    scenario: MacroScenario
    preset_name: str | None  # the scenario preset, extended on longer runs
    population: PopulationParams
    policies: list[RiskPolicy]


def resolve_inputs(
    n_borrowers: Any,
    scenario: Any,
    policy: Any,
    seed: Any,
    population: Any,
    burn_in: Any,
) -> EconomyInputs:
    """Check an economy's arguments and resolve names and dicts to objects.

    Shared by :class:`CreditEconomy` and the per-agent reference in ``benchmarks/``.

    Raises:
        ValueError, TypeError: Naming the argument and what is allowed.
    """
    n_borrowers = check_number("n_borrowers", n_borrowers, low=1, high=MAX_BORROWERS, integer=True)
    if isinstance(seed, np.random.SeedSequence):
        # A copy: spawning from the caller's sequence would change it, and a second
        # economy built from the same sequence would then get other borrowers and shocks.
        seq = np.random.SeedSequence(
            seed.entropy,
            spawn_key=seed.spawn_key,
            pool_size=seed.pool_size,
            n_children_spawned=seed.n_children_spawned,
        )
    elif seed is None:
        seq = np.random.SeedSequence()
    else:
        seq = np.random.SeedSequence(check_number("seed", seed, low=0, integer=True))
    if isinstance(scenario, str):
        scenario, preset_name = MacroScenario.preset(scenario, months=60), scenario
    elif isinstance(scenario, MacroScenario):
        preset_name = None
    else:
        raise TypeError(
            f"scenario must be a preset name ({', '.join(MacroScenario.names())}) or a "
            f"MacroScenario, got {type(scenario).__name__}"
        )
    if population is None:
        population = PopulationParams()
    elif isinstance(population, dict):
        population = PopulationParams().replace(**population)
    elif not isinstance(population, PopulationParams):
        raise TypeError(
            f"population must be PopulationParams or a dict, got {type(population).__name__}"
        )
    policies = _resolve_policies(policy)
    if burn_in is None:
        burn_in = default_burn_in(policies)
    burn_in = check_number("burn_in", burn_in, low=0, high=600, integer=True)
    check_memory(n_borrowers, len(policies))
    return EconomyInputs(n_borrowers, burn_in, seq, scenario, preset_name, population, policies)


def _reporter(name: str) -> Any:
    """A Mesa model reporter of the monthly metric ``name`` (its value this month)."""
    return lambda model: model._rows[-1][name]


class CreditEconomy(mesa.Model):
    """An online consumer-lending market under a macro scenario, one step a month.

    Args:
        n_borrowers: Number of borrowers.
        scenario: A preset name (see ``MacroScenario.names()``) or a ``MacroScenario``.
        policy: A preset name, a ``RiskPolicy``, or a list of them (one lender each).
        seed: Seed of every random stream (int >= 0, or a ``numpy.random.SeedSequence``);
            None draws fresh entropy, recorded in ``seed_entropy``.
        population: Population parameters (``PopulationParams`` or a dict of overrides).
        burn_in: Months simulated under month-0 conditions before month 0, so the loan
            book starts seasoned; not recorded. None: :func:`default_burn_in` of the
            policies (46 months at the default write-off of 120 DPD).
        market: Market-wide rules (``MarketRules`` or a dict of overrides): how borrowers
            choose lenders, investor funding and runs, regulation, contagion.
        agent_reporters: Mesa agent reporters for ``datacollector`` (off by default, for
            speed); they see the lenders and the borrower views made with
            :meth:`borrower`.

    Mesa interop: ``datacollector`` (a ``mesa.DataCollector``) collects every monthly
    metric as a model reporter each recorded month; ``running`` turns False when the
    scenario's path ends, so ``run_model()`` and ``mesa.batch_run`` stop there; ``steps``
    counts recorded months.

    Example:
        >>> eco = CreditEconomy(n_borrowers=2_000, scenario="severe_recession", seed=7)
        >>> df = eco.run(months=24)
        >>> round(float(df["overdue_rate"].mean()), 3) > 0
        True
    """

    def __init__(
        self,
        n_borrowers: int = 10_000,
        scenario: str | MacroScenario = "baseline",
        policy: str | RiskPolicy | Sequence[str | RiskPolicy] = "balanced",
        seed: int | np.random.SeedSequence | None = None,
        *,
        population: PopulationParams | dict[str, Any] | None = None,
        burn_in: int | None = None,
        market: MarketRules | dict[str, Any] | None = None,
        agent_reporters: dict[str, Any] | None = None,
    ) -> None:
        inputs = resolve_inputs(n_borrowers, scenario, policy, seed, population, burn_in)
        self.market = MarketRules.of(market)
        seq, n_borrowers, policies = inputs.seeds, inputs.n_borrowers, inputs.policies
        self.seed_entropy = seq.entropy
        super().__init__(seed=int(seq.generate_state(1)[0]))
        self.scenario, self._preset_name = inputs.scenario, inputs.preset_name
        self.params = population = inputs.population
        self.n_borrowers = n_borrowers
        self.burn_in = inputs.burn_in
        self.streams = named_streams(seq)
        n_lenders = len(policies)
        self.keyed = keyed_streams(seq, n_borrowers, n_lenders, -self.burn_in)
        self.start_unemployment = float(self.scenario.unemployment[0])
        self.state: BorrowerState = init_population(
            population, n_borrowers, self.start_unemployment, self.streams["population"]
        )
        self.book = LoanBook(n_lenders, n_borrowers)
        self.memory = MarketMemory(n_lenders, n_borrowers)
        self.tape = LoanTape(capacity=TAPE_ROWS_PER_BORROWER * n_borrowers)
        self.recoveries = Recoveries()
        self.relief_cohorts = RedefaultCohorts(n_lenders, -self.burn_in, self.burn_in + 60)
        self.lenders = [
            Lender(self, j, p, n_borrowers, self.market) for j, p in enumerate(policies)
        ]
        self.score_error = self.streams["screening"].standard_normal((n_lenders, n_borrowers))
        self._stage_tables()
        raw = rules.true_quality(
            self.state, population, np.arange(n_borrowers), np.zeros(n_borrowers), 1.0
        )
        self._quality_center, self._quality_scale = float(raw.mean()), float(raw.std() or 1.0)
        self._views: dict[int, Borrower] = {}
        self.month = -self.burn_in
        self.roll_rates = RollRates()
        self.observers = (self.roll_rates,)
        self._scratch = MonthScratch(n_borrowers, n_lenders)
        self._rows: list[dict[str, float]] = []
        self._lender_rows: list[dict[str, float]] = []
        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in (*METRIC_COLUMNS, *EXTRA_COLUMNS)},
            agent_reporters=agent_reporters,
        )
        for _ in range(self.burn_in):
            self.step()
        self.steps = 0  # Mesa's step count: recorded months only
        self._start_recording()

    def _start_recording(self) -> None:
        """End of the burn-in: lenders take their capital; the tape keeps the open loans."""
        for lender in self.lenders:
            lender.start_capital(self.book)
        self.recoveries.renumber(self.tape.drop_closed(self.book))

    # ----------------------------------------------------------------- public API
    def run(self, months: int) -> pd.DataFrame:
        """Step ``months`` months and return every recorded month's metrics.

        Returns:
            One row per month with the columns of ``METRIC_COLUMNS`` then
            ``EXTRA_COLUMNS``.
        """
        months = check_number("months", months, low=0, high=1200, integer=True)
        end = self.month + months
        if self._preset_name is not None and end > self.scenario.months:
            self.scenario = MacroScenario.preset(self._preset_name, months=end)
            self.running = True
        for _ in range(months):
            self.step()
        return self.metrics()

    def fork(
        self,
        scenario: str | MacroScenario | None = None,
        policy: str | RiskPolicy | Sequence[str | RiskPolicy] | None = None,
    ) -> CreditEconomy:
        """An independent copy at the current month, every random stream's state included.

        Unchanged, the fork and the original produce identical metrics month for month.
        With a new ``scenario`` (a path read from the current month on) or new policies
        (as many lenders; each takes its new policy's capital ratio of its book if the
        fork is at month 0) the fork continues from the same seasoned book. A fork at
        month 0 with a scenario whose month-0 conditions are the original's is the economy
        that scenario would have built from the same seed (tested): experiments share one
        burn-in across a replication's scenarios this way.

        Raises:
            ValueError, TypeError: For a bad scenario, or policies of another number of
                lenders.
        """
        twin = copy.deepcopy(self)
        if scenario is not None:
            resolved = resolve_inputs(1, scenario, "balanced", 0, None, 0)
            twin.scenario, twin._preset_name = resolved.scenario, resolved.preset_name
            twin.running = True
        if policy is not None:
            policies = _resolve_policies(policy)
            if len(policies) != len(twin.lenders):
                raise ValueError(
                    f"policy must give {len(twin.lenders)} lender(s), as the economy has; "
                    f"got {len(policies)}"
                )
            for lender, new in zip(twin.lenders, policies, strict=True):
                lender.adopt(new, twin.n_borrowers)
                if twin.month == 0:
                    lender.start_capital(twin.book)
            twin._stage_tables()
        return twin

    def _stage_tables(self) -> None:
        """The lenders' collection stages by DPD bucket, one row per lender."""
        stages = [lender.stage_effects() for lender in self.lenders]
        self._pay_effect = np.array([effect for effect, _ in stages])
        self._squeeze = np.array([squeeze for _, squeeze in stages])

    def metrics(self) -> pd.DataFrame:
        """Metrics of every recorded month so far, one row per month."""
        return pd.DataFrame(self._rows, columns=[*METRIC_COLUMNS, *EXTRA_COLUMNS])

    def borrower(self, index: int) -> Borrower:
        """The Borrower agent viewing row ``index`` (created on first use)."""
        index = check_number("index", index, low=0, high=self.n_borrowers - 1, integer=True)
        if index not in self._views:
            self._views[index] = Borrower(self, index)
        return self._views[index]

    def lender_history(self) -> pd.DataFrame:
        """Every lender's monthly metrics: one row per lender and recorded month.

        Columns: ``lender`` (index), ``lender_name`` (its policy's name), ``month``, the
        lender's own metrics (:data:`model.metrics.LENDER_COLUMNS`), ``failed``, and its
        market shares of the balance and of the month's originations (NaN in a month
        without originations).
        """
        frames = []
        for lender in self.lenders:
            frame = pd.DataFrame(lender.history, columns=list(LENDER_COLUMNS))
            frame.insert(0, "month", np.arange(len(frame)))
            frame.insert(0, "lender_name", lender.policy.name)
            frame.insert(0, "lender", lender.index)
            frame["failed"] = frame["failed_lenders"] > 0
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        by_month = out.groupby("month")
        for column, share in (("balance", "balance_share"), ("originations", "origination_share")):
            total = by_month[column].transform("sum")
            out[share] = (out[column] / total.where(total > 0)).astype(float)
        return out

    def lender_vintage_table(self) -> pd.DataFrame:
        """Each lender's vintage curves (:meth:`vintage_table` of its own loans).

        Columns: ``lender``, ``lender_name``, ``vintage``, ``months_on_book``,
        ``cum_writeoff_rate``; with competing lenders, the one that takes the applicants
        the other refuses shows it here (measured in tests/test_competition.py: at the
        test's settings the rival's losses fell, as multi-lending fell with it).
        """
        columns = ["lender", "lender_name", "vintage", "months_on_book", "cum_writeoff_rate"]
        frames = [
            self.vintage_table(lender.index).assign(
                lender=lender.index, lender_name=lender.policy.name
            )
            for lender in self.lenders
        ]
        frames = [f for f in frames if len(f)]
        return (
            pd.concat(frames, ignore_index=True)[columns]
            if frames
            else pd.DataFrame(columns=columns)
        )

    def loan_tape(self) -> pd.DataFrame:
        """One row per loan: every loan made since month 0 and the seasoned loans open then.

        Columns: ``model.tape.COLUMNS``; open loans show their state now, closed and
        written-off loans their state at closing.
        """
        return self.tape.frame(self.book)

    def roll_rate_table(self) -> pd.DataFrame:
        """Roll-rate matrix over the recorded months (share of starting bucket balance)."""
        return self.roll_rates.table()

    def vintage_table(self, lender: int | None = None) -> pd.DataFrame:
        """Cumulative write-off rate by vintage and months on book, from the loan tape.

        Covers the months simulated so far only; the market's loans, or one lender's
        (its index) when ``lender`` is given.
        """
        return self.tape.vintages(last_month=self.month - 1, lender=lender)

    # --------------------------------------------------------------- the schedule
    def step(self) -> None:
        """Advance one month: the process overview of docs/model.md, rule by rule, in order.

        Months before 0 are the burn-in and are not recorded.
        """
        m = self._begin_month()
        self._open_books(m)
        self._write_off(m)
        self._labour_market(m)
        self._illness_and_income(m)
        self._fall_due(m)
        self._spending_needs(m)
        self._borrow_to_repay(m)
        self._pay(m)
        self._settle(m)
        self._spend_and_save(m)
        self._collect(m)
        self._relieve(m)
        self._mark_credit_records(m)
        self._expire_recoveries(m)
        self._originate(m)
        self._close_books(m)
        self._end_month(m)

    def _begin_month(self) -> Month:
        """Macro: read the month's conditions and draw the common income factor."""
        macro = self.scenario.state(self.month)
        z = float(self.streams["macro"].standard_normal())
        m = Month.start(self.month, macro, z, self._scratch)
        self.relief_cohorts.grow(m.number)
        for observer in self.observers:
            observer.begin(self.book, m)
        return m

    def _open_books(self, m: Month) -> None:
        """Lenders open their accounts: funding and servicing cost on the opening book.

        When a lender failed last month and the market does not run failed books off
        (``collect_after_failure``), it stops collecting, and some of its borrowers learn that
        repayment is no longer enforced and stop paying every lender (``strategic_default``).
        """
        for lender in self.lenders:
            lender.open_month(self.book, m.macro.policy_rate)
            if lender.failed_at == m.number - 1:
                self._strategic_default(lender, m)
                self._stage_tables()

    def _strategic_default(self, lender: Lender, m: Month) -> None:
        share = self.market.strategic_default
        if share <= 0 or lender.collecting:
            return
        borrowers = self.book.borrowers(lender.index).copy()
        defecting = borrowers[self.keyed["strategic_default"](m.number, borrowers) < share]
        self.state.willingness[defecting] = 0.0

    def _labour_market(self, m: Month) -> None:
        """Labour market: job loss and re-employment by segment, tracking the path."""
        rules.labour_market(
            self.state,
            m.macro.unemployment,
            self.start_unemployment,
            self.params,
            self.keyed["labour"].address(m.number),
        )

    def _illness_and_income(self, m: Month) -> None:
        """Income: illness, then wages with idiosyncratic and common shocks, or benefit."""
        n = self.n_borrowers
        rules.illness(
            self.state,
            self.params,
            m.macro.illness_factor,
            self.keyed["illness"].address(m.number),
            self.keyed["illness_duration"].for_month(m.number),
            out=m.fell_ill,
        )
        rules.income(
            self.state,
            self.params,
            m.macro,
            self._unemployment_gap(m),
            rules.hours_cut(self.scenario, m.number, self.params),
            m.common_factor,
            standard_normal(self.streams["income"], n, out=self._scratch.normals),
            overwrite_draws=True,
        )

    def _fall_due(self, m: Month) -> None:
        """Loans: interest accrues and the month's instalments fall due."""
        for lender in self.lenders:  # in lender order: the dues summed as over lenders
            lender.accrue(self.book, m.total_due, first=lender.index == 0)

    def _spending_needs(self, m: Month) -> None:
        """Spending: essentials and medical costs come first; part of the habit is kept."""
        rules.spending_needs(
            self.state, self.params, m.macro, m.fell_ill, out=(m.cash, m.protected)
        )

    def _borrow_to_repay(self, m: Month) -> None:
        """Borrowers short of their dues apply at a lender where they hold no loan.

        Only with several lenders (and ``PopulationParams.borrow_to_repay``). The proceeds
        add to this month's cash (borrowing from one platform to repay another); the new
        loan owes nothing this month.
        """
        if len(self.lenders) == 1 or not self.params.borrow_to_repay:
            return
        owing = repayment.may_fall_short(m.total_due, m.cash, m.protected)
        available = repayment.available_cash(self.book, self._squeeze, m.cash, m.protected, owing)
        shortfall = m.total_due[owing] - available
        is_short = shortfall > 1e-6
        short, shortfall = owing[is_short], shortfall[is_short]
        target = self._choose_lender(short, m)
        lent = self._apply_round(short, target, m, shortfall)
        applied = target >= 0
        m.cash[short[applied]] += lent[applied]

    def _pay(self, m: Month) -> None:
        """Borrowers pay their dues (pressing lenders first), then recoveries on old debt."""
        available, m.total_paid = repayment.pay_loans(
            self.book,
            m.cash,
            m.protected,
            self.state.willingness,
            self.keyed["repayment"].address(m.number),  # drawn only for slots with dues
            self.keyed["payment_order"].address(m.number),
            self._pay_effect,
            self._squeeze,
            m.total_due,
            out=(self._scratch.available, m.total_paid),
        )
        np.subtract(m.cash, m.total_paid, out=m.remaining)
        shares = [repayment.recovery_share(lender.intensity) for lender in self.lenders]
        by_lender, by_loan = self.recoveries.collect(
            shares, available, self.state.income, m.remaining
        )
        self.tape.add_recovered(self.recoveries.loan_id, by_loan)
        for lender in self.lenders:
            lender.receive_recoveries(by_lender[lender.index])

    def _settle(self, m: Month) -> None:
        """Lenders book the payments: arrears age contractually, fees fall, loans close."""
        m.repaid.fill(False)
        done = [lender.settle(self.book, m.number, self.relief_cohorts) for lender in self.lenders]
        at = np.repeat(np.arange(len(done)), [x.repaid.size for x in done])
        repaid = np.concatenate([x.repaid for x in done])
        m.repaid[at, repaid] = True
        slots = np.concatenate([x.repaid_slots for x in done])
        close_loans(self.book, self.tape, at, repaid, slots, m.number)  # every lender's at once
        rules.mark_distress(self.state, m.total_paid, m.total_due, m.remaining, m.protected)

    def _spend_and_save(self, m: Month) -> None:
        """Spending: the rest of the habit is spent, the rest saved; the habit adapts."""
        rules.settle_spending(self.state, self.params, m.remaining, self._unemployment_gap(m))

    def _unemployment_gap(self, m: Month) -> float:
        """The scenario's unemployment above month 0 (0 when below)."""
        return max(m.macro.unemployment - self.start_unemployment, 0.0)

    def _collect(self, m: Month) -> None:
        """Lenders run graded collection by DPD bucket (its cost; its effect is in _pay, 7.9)."""
        for lender in self.lenders:
            lender.collect(self.book)

    def _relieve(self, m: Month) -> None:
        """Overdue borrowers in temporary trouble who ask (or are reached) get relief."""
        book, lenders = self.book, self.lenders  # every lender's candidates in one pass
        at, slots = loans.relief_candidates(book, [x.offers_relief for x in lenders])
        idx = book.columns["borrower"][at, slots]  # (a dense row's key of slot i is i)
        reach = per_application([lender.relief_reach for lender in lenders], at)
        contact = self.keyed["relief_contact"](m.number, idx)
        asking = rules.asks_for_relief(self.state, self.params, idx, reach, contact)
        at, slots, idx = at[asking], slots[asking], idx[asking]
        waived, settled = grant_relief(lenders, book, at, slots, m.number, self.relief_cohorts)
        self.tape.add_waived(book.columns["loan_id"][at, slots], waived)
        if settled.any():  # a waiver of everything owed closes the loan
            close_loans(book, self.tape, at[settled], idx[settled], slots[settled], m.number)
            m.settled = at[settled], idx[settled]

    def _write_off(self, m: Month) -> None:
        """Lenders write off the loans that closed last month at their policy's DPD.

        Write-off comes first in the month, so month-end snapshots show loans at the
        horizon (91-120 DPD for a 120-DPD policy) before they are charged off; recovery
        starts on each loan written off.
        """
        m.written_off.fill(False)
        at, hit, ids, amounts = write_off(self.lenders, self.book, self.tape, m.number)
        m.written_off[at, hit] = True
        bounds = lender_bounds(at, len(self.lenders))
        for lender in self.lenders:
            mine = slice(bounds[lender.index], bounds[lender.index + 1])
            self.recoveries.add(lender.index, hit[mine], ids[mine], amounts[mine], m.number,
                                lender.policy.recovery_months)  # fmt: skip

    def _mark_credit_records(self, m: Month) -> None:
        """The credit record shows a default for 36 months from the last 91+ DPD or write-off."""
        damaged = self.state.record_damaged_until
        until = m.number + RECORD_MONTHS - 1  # shown in this month and the 35 after
        damaged[np.flatnonzero(m.written_off) % self.n_borrowers] = until  # every lender's
        rows, slots = loans.past_due(self.book, DEFAULT_DPD_MONTHS)
        damaged[self.book.columns["borrower"][rows, slots]] = until  # (dense: slot i is i's)

    def _expire_recoveries(self, m: Month) -> None:
        """Written-off loans paid off or past their recovery horizon are dropped."""
        self.recoveries.expire(m.number)

    def _originate(self, m: Month) -> None:
        """Applicants (more in distress) are scored, screened, sized, priced and funded."""
        state = self.state
        repaid_any = m.repaid[0] if len(self.lenders) == 1 else m.repaid.any(axis=0)
        draws = self.keyed["applications"].address(m.number)
        applicants = rules.applicants(state, self.params, repaid_any, draws)
        target = self._choose_lender(applicants, m)
        refused = self._apply_to_chosen(applicants, target, m)
        share = self.market.reapply_share
        if share > 0 and len(self.lenders) > 1 and refused.any():
            # Refused applicants who try again this month go to their next choice.
            again = refused & (self.keyed["reapply"](m.number, applicants) < share)
            second = self._choose_lender(applicants[again], m, exclude=target[again])
            self._apply_to_chosen(applicants[again], second, m)

    def _apply_to_chosen(self, applicants: np.ndarray, target: np.ndarray, m: Month) -> np.ndarray:
        """Applicants apply to their chosen lenders; return whether each was refused."""
        lent = self._apply_round(applicants, target, m)
        applied = target >= 0
        idx = applicants[applied]
        # Borrowers who missed a payment keep the proceeds as cash to repay (borrowing to
        # repay); others spend them.
        self.state.savings[idx] += lent[applied] * self.state.missed[idx]
        return applied & (lent == 0)

    def _close_books(self, m: Month) -> None:
        """Lenders close their accounts: provisions, profit, capital, dynamic and share rules."""
        failed = sum(lender.failed for lender in self.lenders)
        peers = max(len(self.lenders) - 1, 1)
        lent = [lender.accounts["originations"] for lender in self.lenders]
        total = sum(lent)
        self._lender_rows = [
            lender.close_month(
                self.book,
                m.record,
                self.relief_cohorts.closed_cohorts(lender.index, m.number),
                (failed - lender.failed) / peers,
                lent[lender.index] / total if total > 0 else 1.0 / len(self.lenders),
            )
            for lender in self.lenders
        ]

    def _end_month(self, m: Month) -> None:
        """Observers read the month; the market's row of metrics is recorded.

        The loan book's sparse rows are rebuilt shorter (``LoanBook.tidy``: storage only,
        no loan changes).
        """
        for observer in self.observers:
            observer.end(self.book, m)
        self.book.tidy()
        if m.record:
            row = combine(self._lender_rows)
            row["month"] = m.number
            row["unemployment_rate"] = (
                1.0 - float(np.count_nonzero(self.state.employed)) / self.n_borrowers
            )
            row.update(m.macro.columns())
            row["common_factor"] = m.common_factor
            self._rows.append(row)
            self.datacollector.collect(self)
        self.month += 1
        if self.month >= self.scenario.months:
            self.running = False  # the path has ended (``run`` extends a preset's)

    # ------------------------------------------------------------ origination helpers
    def _choose_lender(
        self, idx: np.ndarray, m: Month, exclude: np.ndarray | None = None
    ) -> np.ndarray:
        """For borrowers ``idx``, the lender they apply to (-1 if they hold a loan at each).

        A multinomial logit over the lenders that lend and where they hold no loan
        (``model.market``):
        price, brand, a recent refusal and the lender of their last loan, plus a taste draw
        per borrower and lender; with the market's default levers, uniform at random.
        ``exclude`` (a lender per borrower, e.g. the one that just refused them) is left
        out; the taste draws are the month's, so it is the borrower's next choice.
        """
        book, n_lenders = self.book, len(self.lenders)
        if n_lenders == 1:
            return np.where(book.active[0, idx], -1, 0)
        lends = np.array([x.can_lend for x in self.lenders])  # failed lenders take no applications
        cells = (idx[None, :] * n_lenders + np.arange(n_lenders)[:, None]).ravel()
        taste = self.keyed["lender_taste"](m.number, cells).reshape(n_lenders, idx.size)
        rates = np.array([x.annual_rates(m.macro.policy_rate)[0] for x in self.lenders])
        brand = np.array([x.policy.brand for x in self.lenders])
        return choose_applied_lenders(
            idx,
            m.number,
            self.memory,
            self.market,
            rates,
            brand,
            book.active,
            lends,
            taste,
            exclude,
        )

    def _apply_round(
        self,
        applicants: np.ndarray,
        target: np.ndarray,
        m: Month,
        at_least: np.ndarray | None = None,
    ) -> np.ndarray:
        """Each applicant applies to its ``target`` lender (-1: none); return the amounts lent.

        The amount wanted is the borrower's usual need, or ``at_least`` if larger. What
        an application shows (``_applications``) is worked out once for the round, for
        each kind of lender there: one that sees every loan, and one that sees only its own
        (an applicant holds no loan where it applies, so it sees no debt service). An
        applicant applies to one lender a round, so the loans opened in the round are
        other borrowers'. The lenders screen, size, price and fund the round's
        applications in one pass (``model.origination.originate_round``); lender ``j``
        is ``self.lenders[j]``, row ``j`` of the book.
        """
        # Applications grouped by lender (a stable sort keeps each lender's in order).
        order = np.flatnonzero(target >= 0)
        if len(self.lenders) > 1:
            order = order[np.argsort(target[order].astype(np.int16), kind="stable")]  # radix
        idx, at = applicants[order], target[order]
        sees = np.array([x.policy.sees_other_loans for x in self.lenders])
        sees |= self.market.shared_bureau
        wanted_at_least = None if at_least is None else at_least[order]
        shown = self._applications(idx, m, wanted_at_least, bool(sees[0]))
        if not sees.all() and sees.any():  # each applicant shows its lender what it sees
            other = self._applications(idx, m, wanted_at_least, not sees[0])
            mine = sees[at] == sees[0]
            shown = _Applications(
                *(np.where(mine, a, b) for a, b in zip(shown, other, strict=True))
            )
        noise = per_application([x.policy.score_noise for x in self.lenders], at)
        error = self.score_error.ravel()[at * self.n_borrowers + idx]  # [at, idx], as one take
        score = observed_score(shown.quality, error, shown.damaged, noise, self.params)
        apps = Applications(idx, at, score, shown.wanted, shown.reported, shown.debt_service,
                            shown.term_draw)  # fmt: skip
        answered = originate_round(
            self.lenders, self.book, self.tape, apps, m.macro.policy_rate, m.number,
            to_repay=at_least is not None,
        )  # fmt: skip
        self.memory.record(at if len(self.lenders) > 1 else 0, idx, answered > 0, m.number)
        lent = np.zeros(applicants.size)
        lent[order] = answered
        return lent

    def _applications(
        self, idx: np.ndarray, m: Month, at_least: np.ndarray | None, sees_all: bool
    ) -> _Applications:
        """What borrowers ``idx`` show a lender that sees every loan, or only its own."""
        state, p = self.state, self.params
        debt_service = loans.debt_service(self.book, idx) if sees_all else np.zeros(idx.size)
        sd = p.loan_need_dispersion
        wanted = (
            p.loan_need_months
            * np.exp(sd * normal_quantile(self.keyed["loan_need"](m.number, idx)) - 0.5 * sd * sd)
            * state.smoothed_income[idx]
        )
        if at_least is not None:
            wanted = np.maximum(wanted, at_least)
        return _Applications(
            debt_service,
            self._quality(idx, debt_service, m),
            state.record_damaged_until[idx] >= m.number,
            wanted,
            state.income[idx] * state.misreport[idx],
            self.keyed["loan_term"](m.number, idx),
        )

    def _quality(self, idx: np.ndarray, debt_service: np.ndarray, m: Month) -> np.ndarray:
        """Standardised true quality of borrowers ``idx`` with this debt service."""
        raw = rules.true_quality(self.state, self.params, idx, debt_service, m.macro.price_index)
        return (raw - self._quality_center) / self._quality_scale
