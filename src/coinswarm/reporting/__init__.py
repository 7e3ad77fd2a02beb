"""Reports of the accounts: the daily P&L of each paper, sandbox and live account.

`daily.account_reports` reads the stores; `daily_files.write_report` writes a report as HTML
and CSV; `schedule.DailyReports` writes (and sends) the previous day's at 00:00 UTC beside
`coinswarm serve`. It sits above the stores, the ledger and the risk profiles and below the
API and the command line, which show, schedule and send it.
"""
