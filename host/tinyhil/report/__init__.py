"""What a run tells its user: a run folder gathered into report data (collect) and the self-contained HTML page
(page)."""
