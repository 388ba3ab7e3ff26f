# Surge. On a fresh clone `make run` and `make test` each set up everything they need.
# Variables: PYTHON (an interpreter, 3.11+, to build the venv from); for `make report` and
# `make compact`: DATE (YYYY-MM-DD), BUSINESS_TZ (default Asia/Shanghai), HDFS (default the local
# stack's hdfs://127.0.0.1:8020).

PYTHON ?= python3
# make run: seconds of load, and events/s before the sale's rush (which peaks at ten times it).
DURATION ?= 120
RATE ?= 1000
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

BUSINESS_TZ ?= Asia/Shanghai
HDFS ?= hdfs://127.0.0.1:8020
# Simple auth: HDFS takes the user from HADOOP_USER_NAME (some CI shells have no USER).
# JVM flags of the Spark jobs, from their one definition (batch/session.py JAVA_OPTIONS says
# why). Expanded only by the targets that submit a job, once the venv is there.
SPARK_JAVA_OPTIONS = $(shell $(PY) -c 'from batch.session import JAVA_OPTIONS as o; print(o)')
SPARK_SUBMIT = HADOOP_USER_NAME=$${HADOOP_USER_NAME:-$$(id -un)} PYSPARK_PYTHON=$(PY) \
	$(VENV)/bin/spark-submit --master 'local[2]' --driver-memory 2g \
	--driver-java-options '$(SPARK_JAVA_OPTIONS)' \
	--conf 'spark.executor.extraJavaOptions=$(SPARK_JAVA_OPTIONS)' --conf spark.log.level=WARN

.PHONY: setup sdk-setup run serve test browser lint bench bench-quick bench-all bench-validate \
	bench-collector bench-lander bench-reports report compact chaos stack-up stack-down stack-status

## setup: the venv with Surge and its dev tools, and the stack's jars (downloaded once)
setup: $(INSTALLED)
	$(PY) -m infra jars

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Surge needs Python 3.11+: run make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# compat mode: a plain path entry to the repo, the simplest editable install of a flat layout
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

## run: a flash sale end to end on the local stack (left running), reconciled, with a dashboard
run: setup
	$(PY) -m infra.run --duration $(DURATION) --rate $(RATE)

## serve: the collector (port 8080, write key `dev`) and the lander, until Ctrl-C
serve: setup
	$(PY) -m infra.pipeline

## test: the whole suite against a real stack (reused if up, else started and stopped)
test: setup browser sdk-setup
	$(PY) -m pytest

## sdk-setup: node and the pinned SDKs (npm ci in tests/sdk), for the SDK tests
sdk-setup: browser
	bash tests/sdk/setup.sh

## report: every report of the business day DATE, with spark-submit, on the local stack
report: setup
	@test -n "$(DATE)" || { echo "usage: make report DATE=YYYY-MM-DD [BUSINESS_TZ=...]" >&2; exit 2; }
	$(SPARK_SUBMIT) batch/reports.py --date $(DATE) --tz $(BUSINESS_TZ) \
		--events $(HDFS)/surge/events --reports $(HDFS)/surge/reports

## compact: merge the small files of the closed hour folders of the UTC date DATE
compact: setup
	@test -n "$(DATE)" || { echo "usage: make compact DATE=YYYY-MM-DD" >&2; exit 2; }
	$(SPARK_SUBMIT) batch/compact.py --date $(DATE) --events $(HDFS)/surge/events

## bench: Surge against its peers (Benthos, Spark Structured Streaming, DuckDB, Polars) and ceilings
## (Kafka's ProducerPerformance, an empty aiohttp server), side by side: see BENCHMARKS.md.
## The peers are built or fetched on first use. BENCH_ARGS=--quick for a short run.
bench: stack-up
	$(PY) bench/bench_peers.py $(BENCH_ARGS)

bench-quick: stack-up
	$(PY) bench/bench_peers.py --quick $(BENCH_ARGS)

## bench-all: the single-stage benchmarks at the sizes of their issues
bench-all: bench-validate bench-collector bench-lander bench-reports

bench-validate: setup
	$(PY) bench/bench_validate.py

bench-collector: stack-up
	$(PY) bench/bench_collector.py

bench-lander: stack-up
	$(PY) bench/bench_lander.py

bench-reports: setup
	$(PY) bench/bench_reports.py

## browser: Debian's chromium for the browser tests, installed if missing (needs root)
browser: $(INSTALLED)
	$(PY) -m infra.browser install

## chaos: every fault scenario on the local stack under load, reconciled (RELIABILITY.md);
## CHAOS_ARGS: e.g. `--short broker_kill`, `--lock /tmp/stack.lock` (a flock per scenario)
chaos: stack-up
	$(PY) -m chaos $(CHAOS_ARGS)

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

stack-up: setup
	$(PY) -m infra up

stack-down: $(INSTALLED)
	$(PY) -m infra down

stack-status: $(INSTALLED)
	$(PY) -m infra status
