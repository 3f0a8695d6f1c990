"""What the repository holds itself to: the import rules, the hazard table, the bench budgets, the soak."""
