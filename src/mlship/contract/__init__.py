"""`mlship test`: the behaviour contract of mlship.yaml as checks -- the same on a laptop, in CI
and as the deploy gate (`run_contract(project, against=url)`)."""

from mlship.contract.report import CheckResult, ContractReport
from mlship.contract.runner import CHECKS, run_contract

__all__ = ["CHECKS", "CheckResult", "ContractReport", "run_contract"]
