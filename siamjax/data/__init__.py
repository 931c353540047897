"""Training data: the TFRecord schema, per-host sources, pair sampling, augmentation and
the tf.data pipeline. TensorFlow is imported only inside this package and ``siamjax/prep``."""
