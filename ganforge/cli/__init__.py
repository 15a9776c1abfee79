"""The ganforge command line. Each command lives in its own module and imports torch
only inside its body, so ``ganforge --help`` stays instant."""
