"""CycleGAN for ganforge (Zhu, Park, Isola and Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017): an architecture of four named networks and a step."""
