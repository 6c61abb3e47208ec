"""Catalogue of broken configs and arguments: one-line error, exit 2, nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import experiments.runner
import model.economy
from experiments.cli import main
from experiments.config import ConfigError, load_config
from experiments.runner import run_experiment
from model import CreditEconomy

GOOD = """[experiment]
name = "x"
months = 6
borrowers = 300
replications = 1
seed = 1
burn_in = 3

[[scenario]]
preset = "baseline"

[[policy]]
preset = "balanced"
"""

CASES = {
    "unknown top-level key": (GOOD + "[extra]\na = 1\n", "unknown key 'extra'"),
    "unknown experiment key": (GOOD.replace("seed = 1", "seed = 1\nsead = 2"), "'sead'"),
    "wrong type": (GOOD.replace("months = 6", 'months = "six"'), "months must be an integer"),
    "float where int": (GOOD.replace("months = 6", "months = 6.5"), "months"),
    "negative size": (GOOD.replace("borrowers = 300", "borrowers = -3"), "borrowers"),
    "zero replications": (GOOD.replace("replications = 1", "replications = 0"), "replications"),
    "huge population": (GOOD.replace("borrowers = 300", "borrowers = 90000000"), "borrowers"),
    "out-of-range lever": (GOOD + "score_cutoff = 9000\n", "score_cutoff"),
    "NaN lever": (GOOD + "max_dti = nan\n", "max_dti"),
    "unknown lever": (GOOD + "scor_cutoff = 600\n", "scor_cutoff"),
    "unknown policy preset": (GOOD.replace('preset = "balanced"', 'preset = "yolo"'), "yolo"),
    "unknown scenario preset": (
        GOOD.replace('preset = "baseline"', 'preset = "boom"'),
        "boom",
    ),
    "bad knots": (
        GOOD.replace('preset = "baseline"', 'name = "v"\nunemployment = [[3, 0.1], [1, 0.2]]'),
        "increasing",
    ),
    "empty sweep values": (GOOD + '[sweep]\n"policy.max_dti" = []\n', "non-empty"),
    "unknown sweep target": (GOOD + '[sweep]\n"policy.nope" = [1, 2]\n', "nope"),
    "unknown population field": (GOOD + "[population]\nsavings = 2\n", "savings"),
    "bad population value": (GOOD + "[population]\nsavings_months = -1\n", "savings_months"),
    "malformed TOML": (GOOD + "[[[ broken\n", "not valid TOML"),
    # Issue 14, inputs: each one line naming the key and what is allowed.
    "5,000-deep TOML (was RecursionError)": (
        GOOD + "[population]\nx = " + "[" * 5000 + "]" * 5000 + "\n",
        "nested too deeply",
    ),
    "unquoted dotted sweep key (was 'unknown lever policy')": (
        GOOD + "[sweep]\npolicy.max_dti = [0.3, 0.4]\n",
        "'policy' is a table, not a lever: quote dotted lever names, "
        'e.g. "policy.max_dti" = [...]',
    ),
    "unquoted dotted sample range": (
        GOOD + '[sample]\nmethod = "lhs"\nn = 4\n[sample.ranges]\npolicy.max_dti = [0.3, 0.5]\n',
        "config [sample.ranges]: 'policy' is a table, not a lever",
    ),
    "300-character experiment name (was accepted)": (
        GOOD.replace('name = "x"', f'name = "{"a" * 300}"'),
        "(at most 100 characters, starting with a letter or digit); got 'aaaa",
    ),
    "300-character policy name (was accepted)": (
        GOOD.replace('preset = "balanced"', f'preset = "balanced"\nname = "{"p" * 300}"'),
        "config [[policy]] #1 name must have at most 100 characters, got 300",
    ),
    "control characters in a policy name (was accepted)": (
        GOOD.replace('preset = "balanced"', 'preset = "balanced"\nname = "a\\u0007b"'),
        "config [[policy]] #1 name must be printable text (no control characters",
    ),
    "newline in a scenario name (was accepted)": (
        GOOD.replace('preset = "baseline"', 'preset = "baseline"\nname = "two\\nlines"'),
        "config [[scenario]] #1 name must be printable text",
    ),
    "experiment name ending in a newline (was accepted)": (
        GOOD.replace('name = "x"', 'name = "x\\n"'),
        "config [experiment] name must be a folder name",
    ),
    "empty [sample] (was silently no sample)": (
        GOOD + "[sample]\n",
        "config [sample] is empty; it needs method (lhs, sobol, morris, sobol_indices), n and "
        "[sample.ranges]",
    ),
    "boolean swept as severity": (
        GOOD + '[sweep]\n"scenario.severity" = [true, false]\n',
        "config [sweep] 'scenario.severity': values must be numbers (float), got true",
    ),
    "number swept as a true/false lever": (
        GOOD + '[sweep]\n"policy.relief_enabled" = [0, 1]\n',
        "config [sweep] 'policy.relief_enabled': values must be true or false, got 0",
    ),
    "tuple lever swept": (
        GOOD + '[sweep]\n"policy.collection_costs" = [1, 2]\n',
        "'policy.collection_costs' is a tuple of numbers",
    ),
    "string seed": (GOOD.replace("seed = 1", 'seed = "7"'), "seed must be an integer, got str"),
    "stochastic path with a string seed": (
        GOOD.replace('preset = "baseline"', 'stochastic = { paths = 2, seed = "x" }'),
        "config [[scenario]] #1 stochastic seed must be an integer, got str 'x'",
    ),
    "100 points x 100,000 replications (was a hang at 4.9 GB)": (
        GOOD.replace("replications = 1", "replications = 100000")
        + '[sample]\nmethod = "lhs"\nn = 100\n[sample.ranges]\n"policy.max_dti" = [0.3, 0.5]\n',
        "the design has 10,000,000 runs (1 scenario(s) x 1 policy(ies) x 100 sweep point(s) x "
        "100,000 replications); at most 1,000,000 are allowed (its bookkeeping alone would "
        "need about 30.0 GB",
    ),
    "a grid of 10^12 points": (
        GOOD
        + "[sweep]\n"
        + "".join(
            f'"population.{f}" = [{", ".join(str(0.1 + i / 100) for i in range(10))}]\n'
            for f in (
                "illness_rate",
                "apply_rate",
                "savings_months",
                "income_dispersion",
                "income_common_share",
                "replacement_ratio",
                "assistance_ratio",
                "illness_months",
                "illness_income_loss",
                "illness_cost",
                "essentials_share",
                "habit_adjustment",
            )
        ),
        "the design has 1,000,000,000,000 runs",
    ),
}


def _run_args(config: Path, out: Path) -> list[str]:
    return ["run", str(config), "--out", str(out), "--workers", "1", "--quiet"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_config_exits_2_with_one_line_and_writes_nothing(case, tmp_path, capsys):
    text, fragment = CASES[case]
    config = tmp_path / "c.toml"
    config.write_text(text)
    out = tmp_path / "out"
    assert main(_run_args(config, out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert not out.exists()


def test_non_utf8_directory_and_missing_configs(tmp_path, capsys):
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe[experiment]\n")
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # reading it would block for ever (a second read even after a writer)
    big = tmp_path / "big.toml"
    big.write_bytes(GOOD.encode() + b"#" * 10_000_001)
    for path, fragment in (
        (binary, "not valid TOML: not UTF-8 text (byte 0)"),
        (tmp_path, "is a directory"),
        (tmp_path / "nope.toml", "not found"),
        (fifo, "fifo.toml' is not a regular file (a device, FIFO or socket)"),  # was "not found"
        (Path("/dev/zero"), "'/dev/zero' is not a regular file"),  # was "not found"
        (big, "a config may have at most 10,000,000"),
    ):
        assert main(_run_args(path, tmp_path / "out")) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    """A BOM (Windows editors) was 'Invalid statement (at line 1, column 1)'."""
    plain, bom = tmp_path / "plain.toml", tmp_path / "bom.toml"
    plain.write_text(GOOD)
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_config(bom) == load_config(plain)


def test_bad_output_folders_are_refused_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    """``--out ""`` wrote into the working directory and ``--out /`` into /."""
    config = tmp_path / "c.toml"
    config.write_text(GOOD)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out, fragment in (
        ("", "argument --out: empty path; give a folder"),
        ("   ", "argument --out: empty path"),
        ("/", "argument --out: '/' is the root of the file system"),
        ("//..", "argument --out: '//..' is the root of the file system"),
    ):
        assert main(["run", str(config), "--out", out, "--workers", "1", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
    assert list(work.iterdir()) == []
    assert not Path("/manifest.json").exists()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"workers": "2"}, "argument --workers must be an integer >= 1, got str '2'"),
        ({"workers": True}, "argument --workers must be an integer >= 1, got bool True"),
        ({"workers": 0}, "argument --workers must be >= 1, got 0"),
        ({"resume": "yes"}, "argument resume must be True or False, got str 'yes'"),
        ({"draw": None}, "argument draw must be True or False"),
        ({"out_dir": 3}, "argument --out must be a folder path, got int 3"),
        ({"out_dir": ""}, "argument --out: empty path"),
        ({"scheduler": 8786}, "argument --scheduler must be 'local' or an address"),
        ({"source": b"x"}, "argument source must be the config's text"),
    ],
)
def test_api_arguments_are_checked(tmp_path, monkeypatch, kwargs, fragment):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text(GOOD)
    with pytest.raises(ConfigError) as info:
        run_experiment(load_config(config), **{"out_dir": "o", "progress": False, **kwargs})
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]
    with pytest.raises(ConfigError, match="argument config must be an ExperimentConfig"):
        run_experiment({"experiment": {}}, out_dir="o")


def test_validate_refuses_a_config_that_is_not_a_validation_config(tmp_path, capsys):
    """Was a KeyError traceback after the whole sweep had run."""
    config = tmp_path / "c.toml"
    config.write_text(GOOD)
    out, doc = tmp_path / "out", tmp_path / "v.md"
    assert main(["validate", str(config), "--out", str(out), "--doc", str(doc)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not a validation config: it lacks scenario mild_recession" in err
    assert "policy harsh_penalty" in err
    assert not out.exists() and not doc.exists()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run"], "config"),
        (["frobnicate"], "invalid choice"),
        (["run", "x.toml", "--workers", "zero"], "--workers"),
        (["charts", "/nonexistent"], "not a results folder"),
        (["compare", "/nonexistent"], "not a results folder"),
    ],
)
def test_bad_command_lines(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not Path("/nonexistent").exists()  # charts/compare create nothing


def test_workers_times_population_must_fit_in_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(experiments.runner, "available_memory", lambda: 2e9)
    config = tmp_path / "c.toml"
    text = GOOD.replace("borrowers = 300", "borrowers = 4000000")
    config.write_text(text.replace("replications = 1", "replications = 2"))
    assert main(["run", str(config), "--out", str(tmp_path / "o"), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "needs about" in err and "GB" in err
    assert not (tmp_path / "o").exists()


def test_scheduler_local_is_sized_to_the_design_and_checks_memory(tmp_path, capsys, monkeypatch):
    """``--scheduler local`` skipped the memory check and started a worker per CPU for one run."""
    asked = []

    class NoCluster:
        def __init__(self, scheduler, workers=1):
            asked.append((scheduler, workers))

        def __enter__(self):
            return None  # no client: execute runs here, as it would on the cluster

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(experiments.runner, "dask_client", NoCluster)
    config = tmp_path / "c.toml"
    config.write_text(GOOD)  # one run
    args = ["run", str(config), "--quiet", "--no-charts", "--scheduler", "local"]
    assert main([*args, "--out", str(tmp_path / "o"), "--workers", "16"]) == 0
    assert asked == [("local", 1)]
    monkeypatch.setattr(experiments.runner, "available_memory", lambda: 1e8)
    big = tmp_path / "big.toml"
    big.write_text(GOOD.replace("borrowers = 300", "borrowers = 4000000"))
    assert main(["run", str(big), "--out", str(tmp_path / "o2"), "--quiet", "--scheduler", "local"])
    err = capsys.readouterr().err
    assert "with 1 parallel run(s) and 1 runs in the design needs about" in err
    assert err.count("\n") == 1 and not (tmp_path / "o2").exists()


def test_a_large_design_must_fit_in_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(experiments.runner, "available_memory", lambda: 300e6)
    config = tmp_path / "c.toml"
    config.write_text(
        GOOD.replace("replications = 1", "replications = 100000")
        + '[sweep]\n"policy.max_dti" = [0.3, 0.4, 0.5]\n'
    )
    assert main(["run", str(config), "--out", str(tmp_path / "o"), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "300,000 runs in the design needs about 1.3 GB" in err, err
    assert "0.9 GB to keep track of the runs" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_api_refuses_a_population_that_would_not_fit(monkeypatch):
    monkeypatch.setattr(model.economy, "available_memory", lambda: 1e9)
    need = model.economy.memory_estimate(5_000_000) / 1e9
    with pytest.raises(ValueError, match=rf"n_borrowers=5,000,000 .* needs about {need:.1f} GB"):
        CreditEconomy(5_000_000)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_memory_estimate_is_close_to_measured():
    """The estimate's private part is within 15% of a fresh process's peak private memory,
    and the whole peak within 15% of the whole estimate.

    Its kernels compiled already (a first small run fills numba's cache: compiling them
    is a one-off peak the estimate leaves out, about 90 MB). The libraries' file-backed
    pages count in the peak as far as the page cache holds them (136-221 MB measured on one
    machine), so the private peak is the peak less the file pages resident at the end.
    """
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so the child would report pytest's peak.
    code = (
        "from model import CreditEconomy; "
        "CreditEconomy(n_borrowers={n}, policy=['balanced'] * 2, seed=1).run(24); "
        "print(*[int(x.split()[1]) * 1024 for x in open('/proc/self/status') "
        "if x.startswith(('VmHWM:', 'RssFile:'))])"
    )
    subprocess.run([sys.executable, "-c", code.format(n=2_000)], capture_output=True, check=True)
    done = subprocess.run(
        [sys.executable, "-c", code.format(n=200_000)], capture_output=True, text=True, check=True
    )
    peak, files = (float(x) for x in done.stdout.split()[-2:])
    private = model.economy.memory_estimate(200_000, 2) - model.economy.LIBRARY_BYTES
    assert private == pytest.approx(peak - files, rel=0.15)
    assert peak <= model.economy.memory_estimate(200_000, 2) * 1.15  # libraries at their most


def test_resume_refuses_results_made_by_other_code(tmp_path, capsys, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text(GOOD)
    out = tmp_path / "out"
    monkeypatch.setattr(experiments.runner, "code_version", lambda: "a" * 40)
    assert main(_run_args(config, out) + ["--no-charts"]) == 0
    before = sorted(p.name for p in out.rglob("*"))
    monkeypatch.setattr(experiments.runner, "code_version", lambda: "b" * 40)
    assert main(_run_args(config, out) + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert "mix model versions" in err and "--force" in err
    assert sorted(p.name for p in out.rglob("*")) == before


def test_compare_to_a_file_in_a_missing_folder_writes_nothing(tmp_path, capsys):
    """The --out file's folder is checked before anything is written (the folder's
    comparison.csv included), and the error names --out."""
    config = tmp_path / "c.toml"
    config.write_text(GOOD)
    out = tmp_path / "o"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--no-charts"]) == 0
    capsys.readouterr()
    missing = tmp_path / "nowhere" / "t.tex"
    assert main(["compare", str(out), "--format", "latex", "--out", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --out: folder" in err and "does not exist" in err
    assert not (out / "comparison.csv").exists() and not missing.parent.exists()


def test_an_output_folder_that_cannot_be_made_is_named_before_any_work(tmp_path, capsys):
    """run (and calibrate, before its fit) name --out when the folder cannot be created."""
    config = tmp_path / "c.toml"
    config.write_text(GOOD)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["run", str(config), "--out", str(blocker / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create results folder" in err
    calibration = Path(__file__).parents[1] / "experiments" / "configs" / "calibration.toml"
    assert main(["calibrate", str(calibration), "--out", str(blocker / "c")]) == 2
    captured = capsys.readouterr()
    assert "cannot create results folder" in captured.err
    assert "evaluation" not in captured.out  # refused before the fit
