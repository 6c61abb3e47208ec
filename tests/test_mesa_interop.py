"""A Mesa user's expectations: datacollector, running, run_model, batch_run."""

import mesa
import pandas as pd

from model import EXTRA_COLUMNS, METRIC_COLUMNS, CreditEconomy


def test_datacollector_collects_every_monthly_metric():
    eco = CreditEconomy(1500, "severe_recession", seed=2, burn_in=6)
    df = eco.run(5)
    collected = eco.datacollector.get_model_vars_dataframe()
    assert list(collected.columns) == [*METRIC_COLUMNS, *EXTRA_COLUMNS]
    pd.testing.assert_frame_equal(collected.reset_index(drop=True), df, check_dtype=False)


def test_running_stops_at_the_end_of_the_path_and_run_model_terminates():
    eco = CreditEconomy(1500, "pandemic", seed=2, burn_in=6)
    assert eco.running and eco.steps == 0  # the burn-in is not counted
    eco.run_model()
    assert not eco.running and eco.steps == eco.scenario.months == 60
    assert eco.month == 60


def test_batch_run_returns_the_metrics():
    results = mesa.batch_run(
        CreditEconomy,
        {"n_borrowers": 800, "scenario": ["baseline", "severe_recession"], "seed": 3, "burn_in": 6},
        iterations=1,
        data_collection_period=1,
        display_progress=False,
    )
    frame = pd.DataFrame(results)
    assert set(frame["scenario"]) == {"baseline", "severe_recession"}
    assert len(frame) == 2 * 60 and {"overdue_rate", "bad_debt_loss"} - set(frame) == {
        "bad_debt_loss"
    }
    severe = frame[frame.scenario == "severe_recession"]["overdue_rate"].mean()
    assert severe > frame[frame.scenario == "baseline"]["overdue_rate"].mean()


def test_agent_reporters_on_request_see_lenders_and_borrower_views():
    reporters = {"kind": lambda agent: type(agent).__name__}
    eco = CreditEconomy(800, seed=1, burn_in=3, agent_reporters=reporters)
    eco.borrower(4)
    eco.step()
    agents = eco.datacollector.get_agent_vars_dataframe()
    assert sorted(agents["kind"]) == ["Borrower", "Lender"]
    assert CreditEconomy(800, seed=1, burn_in=3).datacollector.agent_reporters == {}
