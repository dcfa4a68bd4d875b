"""Which variants a tuning run makes (the tuning plugin's ``pytest_agentbench_variants``): an OFAT
run's baseline and cells, an all-on cell or the ceilings' raised cells - the last two built
from a source run read from the database."""

from __future__ import annotations

import pytest

from pytest_agentbench.run.options import option_value
from pytest_agentbench.run.variants import Variant
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.tuning.all_on import all_on_variant
from pytest_agentbench.tuning.ceilings import ceiling_variants, parse_factors
from pytest_agentbench.tuning.ofat import ofat_variants
from pytest_agentbench.tuning.source import SourceError, SourceRun, load_source

SOURCE_OPTIONS = {"all_on": "--agentbench-all-on", "ceilings": "--agentbench-ceilings"}


def tuning_source(config: pytest.Config, db_path) -> tuple[str, SourceRun] | None:
    """(option, source run) of ``--agentbench-all-on`` / ``--agentbench-ceilings``; None without."""
    given = [(flag, ref) for name, flag in SOURCE_OPTIONS.items() if (ref := option_value(config, name))]
    if not given:
        if option_value(config, "ceiling_factors"):
            raise SourceError("--agentbench-ceiling-factors needs --agentbench-ceilings RUN_ID|last")
        return None
    if len(given) > 1:
        raise SourceError("--agentbench-all-on and --agentbench-ceilings cannot be combined: run one, "
                          "then the other")
    option, ref = given[0]
    if option != SOURCE_OPTIONS["ceilings"] and option_value(config, "ceiling_factors"):
        raise SourceError("--agentbench-ceiling-factors needs --agentbench-ceilings RUN_ID|last")
    return option, load_source(db_path, str(ref), option)


def tuning_variants(option: str, texts: list[str], models: list[ModelSpec], directives: dict[str, str],
                    source: tuple[str, SourceRun] | None, confidence: float,
                    ceiling_factors: str | None) -> list[Variant]:
    if source is not None:
        flag, run = source
        if flag == SOURCE_OPTIONS["all_on"]:
            return [all_on_variant(run, [m.name for m in models], directives, confidence)]
        return ceiling_variants(run, models, parse_factors(ceiling_factors), directives)
    return ofat_variants(texts, directives)  # --agentbench-ofat (a sweep is the core's own)
