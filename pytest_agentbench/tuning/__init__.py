"""Tuning method: more factors a variant can change (factors.py), one
factor at a time against the model's baseline (ofat.py), the all-on cell of the winners
(all_on.py), which budget a budget failure needs (ceilings.py), and how far a multi-file attempt
got (progress.py). hooks.py plugs them into the run through the plugin's own hooks."""
