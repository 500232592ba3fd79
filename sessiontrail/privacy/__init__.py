"""Privacy: erasing a user (crypto-shredding their content everywhere)."""
