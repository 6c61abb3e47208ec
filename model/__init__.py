"""Agent-based stress testing of consumer lending, on Mesa.

Public API::

    from model import CreditEconomy, Borrower, Lender, RiskPolicy, MacroScenario
    eco = CreditEconomy(n_borrowers=10_000, scenario="severe_recession", policy="balanced", seed=7)
    df = eco.run(months=60)
"""

from model.allocator import release_freed_memory, reuse_freed_memory
from model.borrowers import Borrower
from model.economy import CreditEconomy
from model.lender import Lender
from model.macro import MacroScenario
from model.metrics import EXTRA_COLUMNS, METRIC_COLUMNS
from model.policy import RiskPolicy
from model.population import PopulationParams

__all__ = [
    "Borrower",
    "CreditEconomy",
    "EXTRA_COLUMNS",
    "Lender",
    "METRIC_COLUMNS",
    "MacroScenario",
    "PopulationParams",
    "RiskPolicy",
    "release_freed_memory",
    "reuse_freed_memory",
]
