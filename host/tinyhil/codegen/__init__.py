"""int8 .tflite -> graph IR -> static memory plan -> generated C (the default tinyhil runtime)."""
