# Long forms of the reliability suite (reliability/, docs/security.md):
# 50 plugins and 100,000 events on mixed backends, 100 MiB protocol lines,
# and the faults that restart shared services (the PostgreSQL cluster, the
# Docker engine) - never run by `make test`. Without -race: the race
# detector's 5-10x slowdown would make 100,000 events take half an hour;
# `make test` runs the short forms under -race.
# PostgreSQL: eval "$$(bash scripts/ci-postgres.sh)" first.
.PHONY: stress
stress: test-deps
	MAID_STRESS=1 $(GO) test -timeout 90m -count=1 -v ./reliability
	MAID_STRESS=1 $(GO) test -timeout 30m -count=1 -v -run TestClusterScenarios ./cluster
