"""End to end: ``python -m experiments validate`` on a shrunk validation config."""

import re
from pathlib import Path

from experiments.cli import CONFIG_DIR, main


def test_validate_writes_the_report_into_its_results_folder_and_docs_on_request(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a plain validate must not write docs/ here
    text = (CONFIG_DIR / "validation.toml").read_text()
    text = re.sub(r"borrowers = \d+", "borrowers = 1500", text)
    text = re.sub(r"replications = \d+", "replications = 2", text)
    text = re.sub(r"months = \d+", "months = 30", text)
    config = tmp_path / "validation.toml"
    config.write_text(text + "\n")
    out = tmp_path / "out"
    args = ["validate", str(config), "--out", str(out), "--workers", "1"]
    assert main(args) == 0
    report = (out / "validation.md").read_text()
    keys = ("C1", "C2", "C3", "C4", "2a", "2b", "2c", "2d", "2e", "2f", "3a", "3b", "5", "6", "7")
    for key in (*keys, "8", "V"):
        assert re.search(rf"^\| {key} \|", report, re.M), key
    calibrated, validated = report.split("## Validated against")
    assert "## Calibrated to" in calibrated and "| C1 |" in calibrated
    assert "| C1 |" not in validated  # calibration targets are not counted as checks
    assert re.search(r"\*\*\d+ of 13 checks pass\.\*\*", validated)
    names = ("recession", "us_2007_replay", "policies", "collection_and_lenders", "vasicek")
    for name in names:
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
        assert f"![{name}.png](figures/{name}.png)" in report
    assert "checks pass; report:" in capsys.readouterr().out
    assert not (tmp_path / "docs").exists()
    # --update-docs copies the report and its figures, links rewritten, without simulating.
    doc = tmp_path / "docs" / "validation.md"
    monkeypatch.setattr("experiments.runner.run_experiment", None)  # would fail if called
    assert main([*args, "--update-docs", "--doc", str(doc)]) == 0
    copied = doc.read_text()
    assert copied == report.replace("](figures/", "](validation/")
    for name in names:
        assert (doc.parent / "validation" / f"{name}.png").read_bytes() == (
            out / "figures" / f"{name}.png"
        ).read_bytes()


def test_update_docs_without_a_report_is_one_line(tmp_path, capsys):
    doc = tmp_path / "docs" / "validation.md"
    assert main(["validate", "--out", str(tmp_path / "x"), "--update-docs", "--doc", str(doc)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no validation report at" in err
    assert not doc.exists() and not (tmp_path / "docs").exists()


def test_validate_rejects_bad_workers(tmp_path):
    assert main(["validate", "--workers", "0", "--out", str(tmp_path / "x")]) == 2
    assert not Path(tmp_path / "x").exists()


def test_the_report_gives_each_miss_its_likely_reason_and_no_pass_one():
    from experiments.facts import Fact
    from experiments.miss_diagnoses import MISS_DIAGNOSES
    from experiments.validate import _misses_section

    facts = [
        Fact("2f", "s", "m", False),
        Fact("zz", "s", "m", False),
        Fact("8", "s", "m", True),
    ]
    lines = "\n".join(_misses_section(facts))
    assert f"- **2f.** {MISS_DIAGNOSES['2f']}" in lines
    assert "- **zz.** Not yet diagnosed." in lines
    assert "**8.**" not in lines
    assert _misses_section([Fact("2f", "s", "m", True)]) == []


def test_the_committed_report_gives_each_miss_todays_diagnosis():
    """docs/validation.md's misses carry the text of experiments/miss_diagnoses.py."""
    from experiments.miss_diagnoses import diagnosis

    report = (Path(__file__).resolve().parent.parent / "docs" / "validation.md").read_text()
    shown = dict(re.findall(r"^- \*\*([0-9A-Za-z]+)\.\*\* (.+)$", report, flags=re.M))
    assert shown  # the report has misses, each with its reason
    for key, text in shown.items():
        assert text == diagnosis(key), key
