"""End to end: ``python -m experiments validate`` on a shrunk validation config."""

import re
from pathlib import Path

from experiments.cli import CONFIG_DIR, main


def test_validate_writes_the_report_with_every_fact_and_figure(tmp_path, capsys):
    text = (CONFIG_DIR / "validation.toml").read_text()
    text = re.sub(r"borrowers = \d+", "borrowers = 1500", text)
    text = re.sub(r"replications = \d+", "replications = 2", text)
    text = re.sub(r"months = \d+", "months = 30", text)
    config = tmp_path / "validation.toml"
    config.write_text(text + "\n")
    doc = tmp_path / "docs" / "validation.md"
    status = main(
        [
            "validate",
            str(config),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--doc",
            str(doc),
        ]
    )
    assert status == 0
    report = doc.read_text()
    for key in ("1", "1b", "2a", "2b", "2c", "3", "4", "5", "6", "7", "V"):
        assert re.search(rf"^\| {key} \|", report, re.M), key
    assert "checks pass" in report
    for name in ("recession", "policies", "collection_and_lenders", "vasicek"):
        assert (doc.parent / "validation" / f"{name}.png").stat().st_size > 10_000
    assert "checks pass; report:" in capsys.readouterr().out
    # A second call resumes the finished folder instead of refusing it.
    assert (
        main(
            [
                "validate",
                str(config),
                "--out",
                str(tmp_path / "out"),
                "--workers",
                "1",
                "--doc",
                str(doc),
            ]
        )
        == 0
    )


def test_validate_rejects_bad_workers(tmp_path):
    assert main(["validate", "--workers", "0", "--out", str(tmp_path / "x")]) == 2
    assert not Path(tmp_path / "x").exists()
