# Shortcuts for the commands in README.md; the scripts do the work (and install what they need).
.PHONY: run test bench bench-full

run:
	scripts/run.sh

test:
	scripts/test.sh

# berth-bench's scale scenarios, scaled down to 100,000 tasks on 1,000 instances (a few minutes).
bench:
	scripts/bench.sh

# The same at 1,000,000 tasks on 10,000 instances (about 15 minutes on 2 cores).
bench-full:
	SCALE=full scripts/bench.sh
