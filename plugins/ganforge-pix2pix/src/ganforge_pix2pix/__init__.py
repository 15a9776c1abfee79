"""pix2pix for ganforge (Isola, Zhu, Zhou and Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017): an architecture and a step plugin."""
