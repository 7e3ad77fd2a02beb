"""`coinswarm optimize`: a strategy's parameters searched walk-forward (`search`) over a space
(`space`), one backtest per window (`windows`), every trial in the ledger (`ledger`)."""
