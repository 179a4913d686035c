"""The campaign file: its frozen schema, how it is read and its errors worded, and the example `alflow init`
writes. docs/ARCHITECTURE.md names each module."""

from alflow.config.example import example_campaign
from alflow.config.loading import describe_errors, load_campaign, parse_campaign
from alflow.config.schema import (
    NAME_PATTERN,
    AutoLabelConfig,
    BudgetConfig,
    CampaignConfig,
    ClusterConfig,
    GoldConfig,
    LabelsConfig,
    ModelConfig,
    PoolConfig,
    StoppingConfig,
    StrategyConfig,
    TrackingConfig,
    VendorConfig,
)

__all__ = [
    "NAME_PATTERN",
    "AutoLabelConfig",
    "BudgetConfig",
    "CampaignConfig",
    "ClusterConfig",
    "GoldConfig",
    "LabelsConfig",
    "ModelConfig",
    "PoolConfig",
    "StoppingConfig",
    "StrategyConfig",
    "TrackingConfig",
    "VendorConfig",
    "describe_errors",
    "example_campaign",
    "load_campaign",
    "parse_campaign",
]
