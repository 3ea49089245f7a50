"""What a deployed model does and why it is built so: captum saliency on the float model and occlusion through the
int8 reference (saliency), and the LLM's explanation of the design grounded in its measurements (design)."""
