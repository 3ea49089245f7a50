"""The search: proposers (llm, evolution, random), Pareto selection, the SQLite run store, the loop and
its executors (local, Ray). Entry points: `tinyhil search` (commands/search.py) and
`tinyhil.search.session.open_search(config, run_dir, resume)`."""
