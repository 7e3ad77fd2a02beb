"""Discovery: a loop that invents trading patterns, proves them honestly, and hands the
survivors to the committee (see docs/ISSUE13_PLAN.md for the slices and their contracts)."""
