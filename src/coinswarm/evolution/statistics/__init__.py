"""The statistics that guard a search: Sharpe ratios deflated for the trials run (`sharpe`),
the probability of backtest overfitting (`pbo`), and the reality check and random-entry test
(`significance`)."""
