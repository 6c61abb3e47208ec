"""Loss distribution and economic capital: risk measures, fits and the risk command."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments import risk
from experiments.cli import main
from experiments.config import parse_config
from experiments.runner import run_experiment


def test_var_and_es_of_a_known_discrete_distribution():
    losses = np.arange(1.0, 101.0)[::-1]  # 1 .. 100, in any order
    assert risk.value_at_risk(losses, 0.95) == 95.0
    assert risk.expected_shortfall(losses, 0.95) == pytest.approx(np.mean([96, 97, 98, 99, 100]))
    assert risk.value_at_risk(losses, 0.99) == 99.0
    assert risk.expected_shortfall(losses, 0.99) == 100.0
    # a tail of 2.5 observations: the worst two and half of the third
    assert risk.expected_shortfall(losses, 0.975) == pytest.approx((100 + 99 + 0.5 * 98) / 2.5)
    # fewer losses than the level can see: the largest
    assert risk.value_at_risk(losses, 0.999) == risk.expected_shortfall(losses, 0.999) == 100.0


def test_var_and_es_of_a_normal_sample_match_theory_with_covering_intervals():
    losses = np.random.default_rng(0).standard_normal(200_000)
    z = stats.norm.ppf(0.99)
    assert risk.value_at_risk(losses, 0.99) == pytest.approx(z, abs=0.03)
    assert risk.expected_shortfall(losses, 0.99) == pytest.approx(
        stats.norm.pdf(z) / 0.01, abs=0.03
    )
    table = risk.bootstrap_tail(losses[:20_000], (0.95, 0.99), n_boot=400, seed=1)
    for level, row in zip((0.95, 0.99), table.itertuples(), strict=True):
        q = stats.norm.ppf(level)
        assert row.var_low <= q <= row.var_high
        assert row.es_low <= stats.norm.pdf(q) / (1 - level) <= row.es_high
        assert row.es >= row.var
    again = risk.bootstrap_tail(losses[:20_000], (0.95, 0.99), n_boot=400, seed=1)
    pd.testing.assert_frame_equal(table, again)  # seeded: reproducible


def test_the_vasicek_fit_recovers_its_parameters():
    pd_, rho = 0.04, 0.12
    z = np.random.default_rng(2).standard_normal(20_000)
    rates = stats.norm.cdf((stats.norm.ppf(pd_) + np.sqrt(rho) * z) / np.sqrt(1 - rho))
    fitted_pd, fitted_rho = risk.fit_vasicek(rates)
    assert fitted_pd == pytest.approx(pd_, rel=0.03)
    assert fitted_rho == pytest.approx(rho, rel=0.05)


def test_both_correlation_fits_leave_out_a_year_of_a_book_running_off():
    rng = np.random.default_rng(3)
    rates = stats.norm.cdf((stats.norm.ppf(0.03) + np.sqrt(0.05) * rng.standard_normal(200))
                           / np.sqrt(0.95))  # fmt: skip
    yearly = pd.DataFrame({"rate": rates, "loans": 5000.0})
    ran_off = pd.concat([yearly, pd.DataFrame({"rate": [53.0], "loans": [10.0]})])
    assert risk._correlation(ran_off.reset_index(drop=True)) == risk._correlation(yearly)
    assert 0.02 < risk._correlation(yearly)["rho_moments"] < 0.1


def test_basel_retail_correlation_falls_from_016_to_003_with_pd():
    assert risk.basel_retail_correlation(1e-6) == pytest.approx(0.16, abs=1e-4)
    assert risk.basel_retail_correlation(0.5) == pytest.approx(0.03, abs=1e-4)
    assert risk.basel_retail_correlation(0.02) > risk.basel_retail_correlation(0.1)


def test_breach_and_failure_probabilities_count_runs_with_intervals():
    runs = pd.DataFrame(
        {
            "run_id": [f"r{k}" for k in range(40)],
            "family": "f",
            "policy": ["a"] * 20 + ["b"] * 20,
            "loss_rate": np.linspace(0.01, 0.2, 40),
            "peak_overdue_rate": 0.05,
            "capital_held": 0.12,
            "breach": [False] * 20 + [True] * 5 + [False] * 15,
            "failed": [False] * 38 + [True] * 2,
        }
    )
    yearly = pd.DataFrame({"run_id": runs["run_id"], "year": 0, "rate": 0.03, "loans": 1000.0})
    table = risk.analyse(runs, yearly, n_boot=50).set_index("policy")
    assert table.loc["a", "p_breach"] == 0 and table.loc["a", "p_breach_low"] == 0
    assert table.loc["b", "p_breach"] == 0.25 and table.loc["b", "p_failed"] == 0.1
    assert table.loc["b", "p_breach_low"] < 0.25 < table.loc["b", "p_breach_high"]
    assert table.loc["b", "economic_capital"] == pytest.approx(
        table.loc["b", "var_99.9"] - table.loc["b", "expected_loss"]
    )
    assert table.loc["b", "expected_loss"] > table.loc["a", "expected_loss"]


def _raw(scenario):
    return {
        "experiment": {"name": "r", "seed": 4, "months": 12, "borrowers": 300, "burn_in": 6},
        "scenario": [scenario],
        "policy": [{"preset": "balanced"}, {"preset": "aggressive"}],
    }


def test_the_risk_command_writes_its_tables_and_charts(tmp_path, capsys):
    config = parse_config(_raw({"name": "mc", "stochastic": {"paths": 12}}))
    run_experiment(config, tmp_path, workers=1, progress=False, draw=False)
    assert main(["risk", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "risk.csv")
    assert table["policy"].tolist() == ["balanced", "aggressive"]
    assert (table["runs"] == 12).all()
    assert (table["es_99"] >= table["var_99"]).all() and (table["var_99"] >= table["var_95"]).all()
    assert "## Capital" in (tmp_path / "risk.md").read_text()
    for name in ("risk_loss_histogram", "risk_exceedance"):
        assert (tmp_path / "figures" / f"{name}.png").is_file()
        assert (tmp_path / "figures" / f"{name}.pdf").is_file()


def test_the_exceedance_chart_labels_its_log_axis_in_plain_numbers(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.style import style_context

    config = parse_config(_raw({"name": "mc", "stochastic": {"paths": 12}}))
    run_experiment(config, tmp_path, workers=1, progress=False, draw=False)
    result = risk.analyse_results(tmp_path)
    with style_context(result.config.style, result.config.rcparams):  # mathtext off
        fig = risk._exceedance(result, plt)
        fig.canvas.draw()
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    plt.close(fig)
    assert labels and not any("$" in text or "mathdefault" in text for text in labels)
    assert all(float(text) > 0 for text in labels)


def test_risk_on_a_folder_without_stochastic_paths_is_a_one_line_error(tmp_path, capsys):
    config = parse_config(_raw({"preset": "baseline"}))
    run_experiment(config, tmp_path, workers=1, progress=False, draw=False)
    assert main(["risk", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has no stochastic scenarios" in err and err.count("\n") == 1


def test_the_risk_charts_name_families_policies_and_levers_readably(tmp_path):
    import re

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from experiments.style import style_context

    raw = _raw({"name": "mild_shock", "stochastic": {"paths": 6}})
    raw["policy"] = [{"name": "loose_p2p", "preset": "aggressive"}]
    raw["sweep"] = {"policy.max_dti": [0.3, 0.5]}
    config = parse_config(raw)
    run_experiment(config, tmp_path, workers=1, progress=False, draw=False)
    result = risk.analyse_results(tmp_path)
    with style_context(result.config.style, result.config.rcparams):
        figures = [risk._histograms(result, plt), risk._exceedance(result, plt)]
    texts = [
        [" ".join(t.get_text().split()) for t in fig.findobj(Text) if t.get_visible()]
        for fig in figures
    ]
    for fig in figures:
        plt.close(fig)
    groups = {f"Mild shock / Loose P2P / Max. debt-to-income = {v}%" for v in (30, 50)}
    assert groups <= set(texts[0]) and groups <= set(texts[1])  # panel titles, legend
    raw_names = [t for ts in texts for t in ts if re.search(r"[a-z]_[a-z]|[a-z]\.[a-z]", t)]
    assert raw_names == []
