"""Object detection around the SSDLite models: anchors, box coding, the multibox loss,
post-processing and mAP."""
