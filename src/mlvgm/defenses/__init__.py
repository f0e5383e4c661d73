"""Defences: MLVGM purification, its alpha schedules, pre-processing and EoT."""

from mlvgm.defenses.purifier import EoT, Purifier
from mlvgm.defenses.schedules import SCHEDULES, AlphaSchedule

__all__ = ["SCHEDULES", "AlphaSchedule", "EoT", "Purifier"]
