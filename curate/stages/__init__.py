"""Curation stages. Each module holds one small stage class (see sluice/stage.py for the contract);
recipes name them through the registry in sluice.stage.STAGES."""
