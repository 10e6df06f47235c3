"""The pipeline spec: pydantic models that are the only place configuration is defined.

One module per link of the chain (data, train, evaluate, govern, optimize, serve, monitor), the
root in `pipeline`, reading and validation in `load`. One model per stage, `extra="forbid"`, so
the YAML maps onto it 1:1 and a typo is an error that names the key. Field descriptions are the
reference documentation (`llmline validate --explain`).

The names below are re-exported so callers write `from llmline.spec import TrainSpec`.
"""

from llmline.spec.base import StrictModel
from llmline.spec.data import (
    CleanSpec,
    DataSpec,
    SourceSpec,
)
from llmline.spec.evaluate import EvaluateSpec, GateSpec, RegistrySpec
from llmline.spec.govern import BiasSpec, CardSpec, GovernSpec, RouteSafetySpec, SafetySpec
from llmline.spec.load import (
    describe_validation_error,
    explain,
    load_spec,
    parse_vars,
    read_yaml,
    substitute_variables,
    validate_spec,
)
from llmline.spec.monitor import AlertRuleSpec, MonitorSpec, RetrainSpec
from llmline.spec.optimize import OptimizeSpec
from llmline.spec.pipeline import PipelineSpec
from llmline.spec.serve import ServeSpec
from llmline.spec.train import (
    DistributedSpec,
    FreezeSpec,
    GenerationSpec,
    HpoSpec,
    PeftSpec,
    PretrainSpec,
    SearchDimension,
    TrainSpec,
)

__all__ = [
    "AlertRuleSpec",
    "BiasSpec",
    "CardSpec",
    "CleanSpec",
    "DataSpec",
    "DistributedSpec",
    "EvaluateSpec",
    "FreezeSpec",
    "GateSpec",
    "GenerationSpec",
    "GovernSpec",
    "HpoSpec",
    "MonitorSpec",
    "OptimizeSpec",
    "PeftSpec",
    "PipelineSpec",
    "PretrainSpec",
    "RegistrySpec",
    "RetrainSpec",
    "RouteSafetySpec",
    "SafetySpec",
    "SearchDimension",
    "ServeSpec",
    "SourceSpec",
    "StrictModel",
    "TrainSpec",
    "describe_validation_error",
    "explain",
    "load_spec",
    "parse_vars",
    "read_yaml",
    "substitute_variables",
    "validate_spec",
]
