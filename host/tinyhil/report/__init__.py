"""What a run tells its user: saliency on the float and int8 models (explain), the LLM's explanation of a deployed
design (design_explanation), a run folder gathered into report data (collect) and the HTML page (page)."""
