"""Defences: MLVGM purification, its alpha schedules, pre-processing and EoT."""

from mlvgm.defenses.config import KINDS, DefenseConfig
from mlvgm.defenses.purifier import EoT, Purifier
from mlvgm.defenses.schedules import SCHEDULES, AlphaSchedule

__all__ = ["KINDS", "SCHEDULES", "AlphaSchedule", "DefenseConfig", "EoT", "Purifier"]
