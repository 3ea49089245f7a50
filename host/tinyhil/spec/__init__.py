"""The design space, the first layer of the loop: ArchSpec and the hierarchical space it lives in (space), specs
read from JSON files (specfile), their analytic cost before any training (cost) and the LLM-NAS paper's
published models in tinyhil terms (paper_config)."""
