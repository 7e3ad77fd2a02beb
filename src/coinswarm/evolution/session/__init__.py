"""Discovery beside a paper, sandbox or live session: one cycle a minute on the wall clock
(`scheduler`, `timers`), on the session's closed bars only (`discovery`)."""
