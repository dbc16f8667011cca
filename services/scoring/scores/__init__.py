"""The fan scoring model: pure functions and frozen models, time passed in, no I/O.

A fan's state (`state.FanState`) is folded from the events it sees (`state.apply_signal`), in
any order; the scores are read from it at a given time (`profile.evaluate`) against the
brand's cut points (`tiers.tier_cut_points`, `wallet.wallet_cut_points`). Every score is an
`explain.Explained`: its components add up to it exactly.
"""
