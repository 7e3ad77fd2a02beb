"""Discovery: a loop that invents trading patterns, proves them honestly, and hands the
survivors to the committee (docs/ISSUE13_PLAN.md holds the design).

The run, in the order it happens: `windows` cuts the data into walk-forward folds and a
holdout; `dataset` holds the bars and features; `chaos`, `extract`, `library` and `variation`
offer candidates; `evaluate` and `scoring` trade them; `loop` runs the cycles and `ledger`
commits them; `proof` and `closing` judge the survivors; `run` and `leaderboard` are what the
command line uses. Beside it: `statistics/` (deflated Sharpe, PBO, reality check),
`workers/` (where evaluations run), `optimize/` (a strategy's parameters, searched the same
way), `session/` (discovery beside a live session) and `committee/` (the committee with and
without the proven patterns).
"""
