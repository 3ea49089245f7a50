"""Machine learning on the host: datasets (data), spec -> torch model (model) and its Keras twin (keras_model),
proxy and full training (train, train_guard), distillation (kd, teacher, teacher_nets), quantisation-aware
fine-tuning (qat), int8 TFLite export (export: tinyhil's own writer, int8_graph + tflite_flatbuffer, or TFLiteConverter
on the Keras twin) and a dataset's images as a model's int8 inputs (model_inputs)."""
