"""Decision rules (probabilities -> 0/1 label sets), their tuning and their selection (numpy).

The public names are re-exported here: `from multitag.decision import make_rule`.
"""

from multitag.decision.rules import (
    RULES,
    AtLeastOne,
    DecisionRule,
    FixedThreshold,
    GlobalThreshold,
    PerLabelThreshold,
    TopK,
    make_rule,
    rule_from_dict,
    rule_thresholds,
)
from multitag.decision.tuning import (
    OBJECTIVES,
    candidates,
    check_objective,
    check_threshold,
    objective_value,
    tune_global,
    tune_per_label,
)

__all__ = [
    "OBJECTIVES", "RULES", "AtLeastOne", "DecisionRule", "FixedThreshold", "GlobalThreshold",
    "PerLabelThreshold", "TopK", "candidates", "check_objective", "check_threshold",
    "make_rule", "objective_value", "rule_from_dict", "rule_thresholds", "tune_global",
    "tune_per_label",
]
