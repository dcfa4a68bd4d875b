"""Tuning method: one factor at a time against the model's baseline (ofat.py), the all-on cell
of the winners (all_on.py), which budget a budget failure needs (ceilings.py), and how far a
multi-file attempt got (progress.py); the factors themselves (budgets, directives) are part of the
registry format (schemas/factors.py, schemas/budget.py). hooks.py is the feature's plugin: it
chooses a tuning run's models and variants and adds its tables, through the plugin's own hooks."""
