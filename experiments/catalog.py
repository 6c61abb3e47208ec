"""Catalogue for ``python -m experiments list``: shipped configs and the model's presets."""

from __future__ import annotations

from pathlib import Path

from model import MacroScenario, RiskPolicy

#: The shipped experiment configs (``python -m experiments list`` lists them).
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def config_question(path: Path) -> str:
    """The question a config answers: its leading ``#`` comment lines, joined."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(part for part in lines if part) or "(no leading comment)"


def catalog(config_dir: Path) -> str:
    """Text listing shipped configs, scenario presets and policy presets, one line each."""
    configs = sorted(config_dir.glob("*.toml"))
    width = max((len(p.name) for p in configs), default=0)
    lines = [f"configs ({config_dir}):"]
    lines += [f"  {p.name:<{width}}  {config_question(p)}" for p in configs]
    lines.append("scenario presets:")
    width = max(len(n) for n in MacroScenario.names())
    lines += [
        f"  {n:<{width}}  {MacroScenario.DESCRIPTIONS.get(n, '')}" for n in MacroScenario.names()
    ]
    lines.append("policy presets:")
    width = max(len(n) for n in RiskPolicy.names())
    lines += [f"  {n:<{width}}  {RiskPolicy.DESCRIPTIONS.get(n, '')}" for n in RiskPolicy.names()]
    return "\n".join(lines)
