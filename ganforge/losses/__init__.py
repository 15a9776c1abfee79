"""Built-in GAN losses: pure tensor functions (functional) and thin plugin adapters (builtin)."""
