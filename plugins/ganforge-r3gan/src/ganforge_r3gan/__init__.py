"""R3GAN for ganforge (Huang, Gokaslan, Kuleshov and Tompkin, "The GAN is dead; long live the GAN!
A Modern GAN Baseline", NeurIPS 2024): an architecture, a loss and a step plugin."""
