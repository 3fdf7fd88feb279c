"""edgemobilenet: MobileNet-family models, integer-only int8 quantization and edge backends."""

__version__ = "0.1.0"
