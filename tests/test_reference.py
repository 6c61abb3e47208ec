"""Regression reference: the quickstart's summary must match results/reference/."""

import pandas as pd

from experiments.reference import SUMMARY, check_reference, compare


def test_quickstart_matches_the_committed_reference():
    differences = check_reference()
    assert differences == [], "\n".join(
        [*differences[:10], "if deliberate: python -m experiments reference --update"]
    )


def test_compare_reports_a_changed_value():
    reference = pd.read_csv(SUMMARY)
    changed = reference.copy()
    changed.loc[3, "bad_debt_loss_rate"] *= 1 + 1e-6
    lines = compare(changed, reference)
    assert len(lines) == 1 and "bad_debt_loss_rate" in lines[0]
    assert "np.float64" not in lines[0]  # plain numbers, as a reader wants them
    assert repr(float(changed.loc[3, "bad_debt_loss_rate"])) in lines[0]
    assert compare(reference.drop(columns="profit"), reference)[0].startswith("shape or columns")
    undefined = reference.copy()
    undefined.loc[0, "profit"] = float("nan")  # e.g. a capital ratio without a book
    assert compare(undefined.copy(), undefined) == []
