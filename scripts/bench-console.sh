#!/usr/bin/env bash
# The console's load case (issue 17): 10 live SSE streams over loopback
# HTTP, two of them slow readers, while alerts come at 10,000 a second for
# 30 seconds. Prints the rate reached, the slowest Observe (the agent
# pipeline's call into the console), the drops counted and whether every
# stream's delivered plus dropped adds up, and the heap's peak. Change the
# case with TRUESIGHT_BENCH_SECONDS, TRUESIGHT_BENCH_RATE and
# TRUESIGHT_BENCH_CLIENTS.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -run '^$' -bench '^BenchmarkConsoleLoad$' -benchtime 1x -timeout 10m ./internal/console/
