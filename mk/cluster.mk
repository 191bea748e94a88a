# make cluster: a local three-node demo (scripts/cluster-demo.sh): one
# PostgreSQL, `maid fakediscord`, three `maid serve --cluster` processes.
.PHONY: cluster
cluster: build python-wasm
	bash scripts/cluster-demo.sh
